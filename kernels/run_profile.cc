#include "kernels/run_profile.h"

namespace ferry::kernels {

void AddRunProfile(const Plan& plan, const RunStats& stats, v1::ExecutionProfile* profile) {
  profile->set_peak_bytes(stats.peak_bytes);
  for (const RunStats::StepTime& time : stats.step_times) {
    const Step& step = plan.steps[time.step];
    const core::Node& node = plan.graph.nodes[step.node];
    v1::ProfiledStep* out = profile->add_steps();
    out->set_node(step.node);
    if (step.fused) {
      out->set_op("fused");
      for (int32_t member : step.members) out->add_fused_ops(plan.graph.nodes[member].op);
    } else {
      out->set_op(node.op);
    }
    out->set_type(core::TypeToString(node.out));
    out->set_start_ns(time.start_ns);
    out->set_duration_ns(time.duration_ns);
  }
}

}  // namespace ferry::kernels

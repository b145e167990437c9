#include "client/lm/grad_checkpoint.h"

#include <utility>
#include <vector>

#include "client/nn/value_and_grad.h"

namespace ferry::lm {
namespace {

thread_local bool checkpointing = false;

}  // namespace

GradCheckpoint::GradCheckpoint(bool on) : previous_(checkpointing) { checkpointing = on; }

GradCheckpoint::~GradCheckpoint() { checkpointing = previous_; }

std::vector<Array> call_block(nn::Module& module, std::vector<Array> inputs,
                              std::function<std::vector<Array>(const std::vector<Array>&)> call) {
  if (!checkpointing) return call(inputs);
  nn::ModuleFn checkpointed =
      nn::checkpoint(module, [call = std::move(call)](const std::vector<Array>& given) {
        // The recomputation in the backward pass runs while the step's GradCheckpoint is
        // still alive: the block itself is not checkpointed again.
        GradCheckpoint off(false);
        return call(given);
      });
  return checkpointed(inputs);
}

Array call_block(nn::Module& module, const Array& h, std::function<Array(const Array&)> call) {
  if (!checkpointing) return call(h);
  return call_block(module, std::vector<Array>{h},
                    [call = std::move(call)](const std::vector<Array>& inputs) {
                      return std::vector<Array>{call(inputs[0])};
                    })[0];
}

}  // namespace ferry::lm

"""A fuzz target, built two ways: NAME links libFuzzer under --config=fuzz (clang) and the
replay driver otherwise; NAME_test always runs the replay driver (its seeds, `args`, the
inputs in regressions/NAME/, then `mutations` random edits of them), so CI runs every target
with GCC."""

def ferry_fuzz_target(name, srcs, deps, data = [], args = [], env = {}, local_defines = [],
                      mutations = 3000):
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        local_defines = local_defines,
        deps = deps + [":fuzz_target"],
        alwayslink = True,
    )
    native.cc_binary(
        name = name,
        testonly = True,
        deps = [name + "_lib", ":engine"],
    )
    regressions = native.glob(["regressions/%s/*" % name])
    native.cc_test(
        name = name + "_test",
        size = "medium",
        data = data + regressions,
        env = env,
        args = args + ["$(rootpath %s)" % f for f in regressions] + [
            "--mutations=%d" % mutations,
        ],
        deps = [name + "_lib", ":replay_main"],
    )

#!/usr/bin/env python3
"""deploy/docker/Dockerfile has the shape the image needs, read as Docker reads it (no engine
runs here to build it): a Debian 12 build stage running ./bazelw build //server:ferryd, a
separate runtime stage with the shared libraries ferryd links, a numeric non-root USER, ports
7070 and 9090, ENTRYPOINT ferryd, pinned base images (never `latest`), and the lint rules a
Dockerfile linter would apply to apt-get and ARG scoping. The CUDA backend's sources are read
too: the build stage must install the package of every CUDA header they include, and the
runtime stage that of every library their loaders dlopen (which ldd cannot see).
"""

import json
import os
import re
import sys

RUNTIME_PACKAGES = ["libgrpc++1.51", "libprotobuf32", "libabsl20220623", "libopenblas0"]
CUDA_RUNTIME_PACKAGES = ["cuda-cudart-", "cuda-nvrtc-", "libcublas-"]  # + the CUDA_PKG suffix
# NVIDIA's packages (prefixes, before the CUDA_PKG suffix or a version) by what they hold.
HEADER_PACKAGES = {
    "cuda_runtime.h": "cuda-cudart-dev-", "cuda_runtime_api.h": "cuda-cudart-dev-",
    "cuda_fp16.h": "cuda-cudart-dev-", "cuda_bf16.h": "cuda-cudart-dev-",
    "cublasLt.h": "libcublas-dev-", "cublas_api.h": "libcublas-dev-",
    "cusolverDn.h": "libcusolver-dev-", "nvrtc.h": "cuda-nvrtc-dev-", "nccl.h": "libnccl-dev",
}
LIBRARY_PACKAGES = {
    "libcublasLt": "libcublas-", "libcublas": "libcublas-", "libcusolver": "libcusolver-",
    "libnvrtc": "cuda-nvrtc-", "libnccl": "libnccl2",
}
BINARY = "/opt/ferry/bin/ferryd"
LINT_RULES = {
    "apt-install": "every apt-get install has -y and --no-install-recommends",
    "apt-lists": "every RUN with apt-get update also removes /var/lib/apt/lists/*",
    "arg-scope": "every stage re-declares the global ARGs it uses (else they are empty)",
    "remote-add": "no ADD of a URL without --checksum",
    "pipe-to-shell": "nothing downloaded is piped into a shell",
    "sudo": "no sudo (builds run as root)",
}


def repo_root():
    srcdir = os.environ.get("TEST_SRCDIR")
    if srcdir:
        return os.path.join(srcdir, os.environ.get("TEST_WORKSPACE", "ferry"))
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


ROOT = repo_root()
failures = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        failures.append(what)
    return condition


# ---- reading a Dockerfile -----------------------------------------------------------------

def instructions(text):
    """(KEYWORD, arguments, line number) per instruction: comments dropped, continuations joined."""
    result = []
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue  # a comment, also inside a continued instruction
        if not pending:
            if not line.strip():
                continue
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        result.append((keyword.upper(), args.strip(), start))
    return result


def substitute(text, variables):
    def value(match):
        return variables.get(match.group(1) or match.group(2), match.group(0))
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", value, text)


def arg_default(args):
    name, _, default = args.partition("=")
    return name.strip(), default.strip().strip('"')


class Stage:
    def __init__(self, image, name, line):
        self.image, self.name, self.line = image, name, line
        self.body = []  # (KEYWORD, args, line) after FROM

    def all(self, keyword):
        return [args for kw, args, _ in self.body if kw == keyword]

    def runs(self):
        return " ".join(self.all("RUN"))


def parse(text):
    global_args, stages = {}, []
    for keyword, args, line in instructions(text):
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--platform")]
            image = substitute(words[0], global_args)
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image, name, line))
        elif not stages:
            if keyword == "ARG":
                name, default = arg_default(args)
                global_args[name] = default
        else:
            stages[-1].body.append((keyword, args, line))
    return global_args, stages


def apt_install_commands(run_args):
    return [c for c in re.split(r"&&|;", run_args) if re.search(r"\bapt-get\s+install\b", c)]


def cuda_sources():
    """{name: text} of the CUDA backend's sources (kernels/cuda, tests left out)."""
    folder = os.path.join(ROOT, "kernels", "cuda")
    sources = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith((".cc", ".cu", ".cuh", ".h")) and not name.endswith("_test.cc"):
            with open(os.path.join(folder, name)) as f:
                sources[name] = f.read()
    return sources


def installs_package(installs, prefix):
    """Whether `installs` (a stage's apt-get install words) names the package `prefix`, with
    the CUDA_PKG suffix, a CUDA version, an optional pinned version, or nothing after it."""
    suffix = r"(\$\{CUDA_PKG\}|\d+-\d+)" if prefix.endswith("-") else r"(\$\{[^}]*\}|=\S+)?"
    return re.search(rf"(?<![\w.+-]){re.escape(prefix)}{suffix}(?![\w.+-])", installs) is not None


def check_cuda_packages(build, final):
    sources = cuda_sources()
    check(len(sources) > 10, f"the CUDA backend's sources are here ({len(sources)})")
    build_installs = " ".join(c for r in build.all("RUN") for c in apt_install_commands(r))
    final_installs = " ".join(c for r in final.all("RUN") for c in apt_install_commands(r))
    headers = sorted({h for text in sources.values()
                      for h in re.findall(r"(?m)^#include <([\w.]+\.h)>", text)
                      if re.match(r"(cu|nv|nccl)", h)})
    for header in headers:
        package = HEADER_PACKAGES.get(header)
        named = package or "unknown: add it to HEADER_PACKAGES"
        check(package is not None and installs_package(build_installs, package),
              f"the build stage installs the package of <{header}> ({named})")
    libraries = sorted({l for name, text in sources.items() if name.endswith("_loader.cc")
                        for l in re.findall(r'"(lib\w+)\.so\.\d+"', text)})
    check({"libcublasLt", "libnccl"} <= set(libraries),
          f"the loaders' libraries were found ({libraries})")
    for library in libraries:
        package = LIBRARY_PACKAGES.get(library)
        named = package or "unknown: add it to LIBRARY_PACKAGES"
        check(package is not None and installs_package(final_installs, package),
              f"the final stage installs the package of {library}.so, which ferryd dlopens "
              f"({named})")


# ---- the checks ---------------------------------------------------------------------------

def main():
    path = os.path.join(ROOT, "deploy", "docker", "Dockerfile")
    with open(path) as f:
        text = f.read()
    global_args, stages = parse(text)
    names = {s.name for s in stages if s.name}

    first = text.splitlines()[0]
    check(not first.startswith("# syntax=") or
          re.fullmatch(r"# syntax=docker/dockerfile:\d+(\.\d+)*", first) is not None,
          f"the syntax directive pins a dockerfile frontend version ({first})")

    # Multi-stage, every base image pinned.
    check(len(stages) >= 2, f"multi-stage: {len(stages)} stages")
    check(all(s.name for s in stages), "every stage is named (FROM ... AS name)")
    for s in stages:
        if s.image in names:
            continue
        unresolved = "$" in s.image
        repo, _, tag = s.image.partition("@")[0].rpartition("/")[2].partition(":")
        pinned = "@sha256:" in s.image or (tag and tag != "latest")
        check(not unresolved and pinned,
              f"stage {s.name}: base image {s.image} has an explicit tag or digest, not latest")
    check(not re.search(r"(?im)^\s*FROM\s+\S*:latest\b", text), "no FROM ...:latest anywhere")

    # The build stage: Debian 12, ./bazelw build //server:ferryd.
    builds = [s for s in stages if re.search(r"\./bazelw\s+build\b[^&;]*//server:ferryd", s.runs())]
    if check(len(builds) == 1, "one stage runs ./bazelw build ... //server:ferryd"):
        build = builds[0]
        check(re.match(r"(docker\.io/(library/)?)?debian:(12|bookworm)", build.image) is not None,
              f"the build stage ({build.name}) starts from Debian 12 ({build.image}), whose "
              "packages bazelw installs")
        check(BINARY in build.runs(), f"the build stage puts the binary at {BINARY}")

    # The runtime stage: a fresh base, the binary copied in, non-root, ports, entrypoint.
    final = stages[-1]
    check(final.image not in names,
          f"the final stage ({final.name}) starts from a base image, not a build stage")
    check(builds and any(re.search(rf"--from={builds[0].name}\b", c)
                         for c in final.all("COPY")),
          "the final stage copies ferryd from the build stage (COPY --from=...)")
    check(re.match(r"(docker\.io/(library/)?)?debian:(12|bookworm)", final.image) is not None,
          f"the final stage runs on Debian 12 like the build ({final.image})")
    users = final.all("USER")
    user = users[-1] if users else ""
    match = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    check(match is not None and int(match.group(1)) != 0 and
          (match.group(2) is None or int(match.group(2)) != 0),
          f"the final stage's USER is a numeric non-root uid:gid ({user or 'none'})")
    last_user = max((line for kw, _, line in final.body if kw == "USER"), default=0)
    check(all(line < last_user for kw, _, line in final.body if kw in ("RUN", "COPY", "ADD")),
          "nothing runs or is copied in the final stage after USER drops root")
    exposed = {p.split("/")[0] for e in final.all("EXPOSE") for p in e.split()}
    check({"7070", "9090"} <= exposed, f"EXPOSE 7070 and 9090 ({sorted(exposed)})")
    entrypoints = final.all("ENTRYPOINT")
    try:
        entrypoint = json.loads(entrypoints[-1]) if entrypoints else None
    except json.JSONDecodeError:
        entrypoint = None
    check(isinstance(entrypoint, list) and entrypoint[:1] == [BINARY],
          f"ENTRYPOINT is the exec form [\"{BINARY}\"] ({entrypoints})")
    cmds = final.all("CMD")
    try:
        cmd_ok = not cmds or isinstance(json.loads(cmds[-1]), list)
    except json.JSONDecodeError:
        cmd_ok = False
    check(cmd_ok, f"CMD, if any, is in exec form ({cmds})")
    check(not final.all("HEALTHCHECK"), "no HEALTHCHECK: orchestrators probe gRPC health")

    # The libraries the binary links, installed in the final stage.
    installs = " ".join(c for r in final.all("RUN") for c in apt_install_commands(r))
    for package in RUNTIME_PACKAGES:
        check(re.search(rf"(?<![\w.+-]){re.escape(package)}(?![\w.+-])", installs) is not None,
              f"the final stage installs {package}")
    for prefix in CUDA_RUNTIME_PACKAGES:
        check(re.search(rf"{re.escape(prefix)}(\$\{{CUDA_PKG\}}|\d+-\d+)", installs) is not None,
              f"the final stage installs {prefix}<cuda version>")
    if builds:
        check_cuda_packages(builds[0], final)
    envs = " ".join(final.all("ENV"))
    check("NVIDIA_DRIVER_CAPABILITIES=compute" in envs,
          "the image asks the NVIDIA Container Toolkit for the compute driver libraries")
    check("NVIDIA_VISIBLE_DEVICES" not in envs,
          "the image does not set NVIDIA_VISIBLE_DEVICES (a pod without a GPU sees none)")

    # Lint: apt-get hygiene, ARG scoping, no remote ADD, no sudo. Each rule lists the lines
    # that break it.
    broken = {rule: [] for rule in LINT_RULES}
    for s in stages:
        declared = set()
        for kw, args, line in s.body:
            if kw == "ARG":
                declared.add(arg_default(args)[0])
                continue
            # A global ARG is empty inside a stage unless the stage declares it again.
            used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", args)) & set(global_args)
            if used - declared:
                broken["arg-scope"].append(f"{line} ({', '.join(sorted(used - declared))})")
            if kw == "ADD" and re.search(r"https?://", args) and "--checksum=" not in args:
                broken["remote-add"].append(line)
            if kw != "RUN":
                continue
            for command in apt_install_commands(args):
                if not (re.search(r"\s-y\b|--yes", command) and
                        "--no-install-recommends" in command):
                    broken["apt-install"].append(line)
            if "apt-get update" in args and "rm -rf /var/lib/apt/lists/*" not in args:
                broken["apt-lists"].append(line)
            if re.search(r"\|\s*(ba|da)?sh\b", args):
                broken["pipe-to-shell"].append(line)
            if re.search(r"\bsudo\b", args):
                broken["sudo"].append(line)
    for rule, what in LINT_RULES.items():
        lines = broken[rule]
        check(not lines, what + (f" (lines {', '.join(map(str, lines))})" if lines else ""))

    # The build context leaves out Bazel's output trees and VCS history.
    ignore_path = os.path.join(ROOT, "deploy", "docker", "Dockerfile.dockerignore")
    if check(os.path.exists(ignore_path), "deploy/docker/Dockerfile.dockerignore exists"):
        with open(ignore_path) as f:
            patterns = {line.strip() for line in f if line.strip() and not line.startswith("#")}
        check({"bazel-*", ".git"} <= patterns,
              f"Dockerfile.dockerignore excludes bazel-* and .git ({sorted(patterns)})")

    print(f"{len(failures)} check(s) failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

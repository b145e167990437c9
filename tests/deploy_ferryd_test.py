#!/usr/bin/env python3
"""The deploy files and the ferryd binary agree:
- ferryd starts, serves and exits 0 on SIGTERM with each flag set deploy/ passes it (the
  systemd env file, the Kubernetes DaemonSet's args, the image's CMD), so a renamed or
  re-ranged flag breaks this test rather than a node;
- every shared library the binary loads comes from a package the image's runtime stage
  installs (or one those pull in), so the image cannot ship a ferryd that fails to load.

Usage: deploy_ferryd_test.py PATH_TO_FERRYD (Bazel passes $(rootpath //server:ferryd)).
"""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

# In every Debian image, so never named in the Dockerfile.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
# The runtimes a sanitizer build links (./bazelw test --config=asan), never in an image.
SANITIZER_RUNTIMES = {"libasan", "libubsan", "liblsan", "libtsan"}
# CUDA libraries come from NVIDIA's packages (/usr/local/cuda-*, not always dpkg-owned here).
CUDA_LIBRARY_PACKAGES = {"libcudart": "cuda-cudart-", "libcublas": "libcublas-",
                         "libcublasLt": "libcublas-", "libnvrtc": "cuda-nvrtc-",
                         "libnvrtc-builtins": "cuda-nvrtc-"}


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


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


# ---- the flag sets deploy/ passes ---------------------------------------------------------

def systemd_flags():
    env_file = os.path.join(ROOT, "deploy", "systemd", "ferryd.env")
    value = subprocess.run(
        ["bash", "-c", 'set -a; . "$1"; printf "%s" "${FERRYD_FLAGS:-}"', "_", env_file],
        stdout=subprocess.PIPE, text=True, check=True, env={}).stdout
    return shlex.split(value)


def kubernetes_args():
    """The DaemonSet container's args: the `- --flag=value` items under `args:`."""
    args, inside = [], False
    for line in read("deploy", "k8s", "base", "daemonset.yaml").splitlines():
        stripped = line.strip()
        if stripped == "args:":
            inside = True
        elif inside and stripped.startswith("#"):
            continue
        elif inside and stripped.startswith("- "):
            args.append(stripped[2:].strip().strip('"'))
        elif inside:
            break
    return args


def image_cmd():
    cmds = re.findall(r"(?m)^CMD\s+(.*)$", read("deploy", "docker", "Dockerfile"))
    return json.loads(cmds[-1]) if cmds else []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def starts_and_drains(ferryd, name, flags):
    """Runs ferryd with FLAGS on a loopback port; it must serve, then exit 0 on SIGTERM."""
    check(bool(flags), f"{name}: has flags to try ({flags})")
    with tempfile.TemporaryDirectory(dir=os.environ.get("TEST_TMPDIR")) as tmp:
        port_file = os.path.join(tmp, "port")
        local = [f for f in flags if not f.startswith(("--listen=", "--port_file="))]
        # A fixed metrics port could be taken on a test machine: keep the flag, pick the port.
        local = [f"--metrics_port={free_port()}" if f.startswith("--metrics_port=") else f
                 for f in local]
        # A directory on the node; here one of the test's own.
        local = [f"--upload_cache_dir={tmp}/uploads" if f.startswith("--upload_cache_dir=")
                 else f for f in local]
        command = [ferryd, "--listen=127.0.0.1:0", f"--port_file={port_file}"] + local
        log = open(os.path.join(tmp, "log"), "w+")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file) and process.poll() is None and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        serving = os.path.exists(port_file)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.seek(0)
        output = log.read()
        ok = check(serving, f"{name}: ferryd {' '.join(local)} starts serving")
        ok = check(process.returncode == 0,
                   f"{name}: ferryd exits 0 after SIGTERM (got {process.returncode})") and ok
        if not ok:
            print(output)


# ---- shared libraries against the image's packages ----------------------------------------

def runtime_packages():
    """The packages the Dockerfile's final stage apt-get installs (CUDA ones as prefixes)."""
    text = read("deploy", "docker", "Dockerfile").replace("\\\n", " ")
    final = re.split(r"(?m)^FROM\s", text)[-1]
    packages = set()
    for match in re.finditer(r"apt-get install ([^&;\n]*)", final):
        packages.update(w for w in match.group(1).split() if not w.startswith("-"))
    return {re.sub(r"\$\{CUDA_PKG\}$", "", p) for p in packages}


def dpkg(*args):
    return subprocess.run(["dpkg-query", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)


def dependency_closure(packages):
    """The packages and, recursively, their installed dependencies (any alternative)."""
    seen, level = set(), set(packages)
    while level:
        seen |= level
        listing = dpkg("-W", "-f=${Package}\t${Depends}, ${Pre-Depends}\n", *sorted(level))
        level = set()
        for line in listing.stdout.splitlines():
            for alternative in re.split(r"[,|]", line.partition("\t")[2]):
                name = re.sub(r"\(.*?\)|:any", "", alternative).strip()
                if name and name not in seen:
                    level.add(name)
    return seen


def owning_packages(paths):
    """{path: package} for the paths a Debian package owns (by path or its real path)."""
    candidates = {}
    for path in paths:
        for p in {path, os.path.realpath(path)}:
            # Debian 12 registers some libraries under /lib and others under /usr/lib.
            for alias in (p, p[4:] if p.startswith("/usr/lib/") else "/usr" + p):
                candidates.setdefault(alias, path)
    owners = {}
    for line in dpkg("-S", *sorted(candidates)).stdout.splitlines():
        package, _, owned = line.partition(": ")
        if owned in candidates and "," not in package:
            owners.setdefault(candidates[owned], package.split(":")[0])
    return owners


def check_libraries(ferryd):
    if subprocess.run(["which", "dpkg-query"], stdout=subprocess.DEVNULL).returncode != 0:
        print("SKIPPED library check: dpkg-query is missing, so this is no Debian system")
        return
    ldd = subprocess.run(["ldd", ferryd], stdout=subprocess.PIPE, text=True)
    libraries = re.findall(r"^\s*(\S+) => (\S+)", ldd.stdout, re.M)
    check(ldd.returncode == 0 and libraries, f"ldd lists ferryd's libraries ({len(libraries)})")
    missing = [name for name, path in libraries if path == "not"]
    check(not missing, f"every library resolves here ({missing})")
    wanted = runtime_packages()
    check({"libgrpc++1.51", "libprotobuf32", "libabsl20220623", "libopenblas0"} <= wanted,
          f"the runtime stage's packages were found in the Dockerfile ({sorted(wanted)})")
    provided = dependency_closure((wanted | BASE_IMAGE_PACKAGES) - {""})
    owners = owning_packages([path for _, path in libraries if path != "not"])
    uncovered = []
    for soname, path in libraries:
        if path == "not":
            continue
        stem = soname.split(".so")[0]
        if stem in SANITIZER_RUNTIMES:
            continue  # a --config=asan build; the image ships the release build
        if stem in CUDA_LIBRARY_PACKAGES:
            if CUDA_LIBRARY_PACKAGES[stem] not in wanted:
                uncovered.append(f"{soname} (needs {CUDA_LIBRARY_PACKAGES[stem]}<version>)")
            continue
        package = owners.get(path)
        if package is None or package not in provided:
            uncovered.append(f"{soname} ({package or 'owned by no package'})")
    check(not uncovered, "the runtime stage's packages provide every library ferryd loads"
          + (f"; missing: {', '.join(uncovered)}" if uncovered else ""))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    ferryd = sys.argv[1]
    if not os.path.isabs(ferryd) and os.environ.get("TEST_SRCDIR"):
        ferryd = os.path.join(ROOT, ferryd)
    check(os.access(ferryd, os.X_OK), f"ferryd is at {ferryd}")
    if failures:
        return 1

    unit = read("deploy", "systemd", "ferryd.service")
    check(re.search(r"(?m)^ExecStart=\S+ \$FERRYD_FLAGS$", unit) is not None,
          "ferryd.service passes exactly $FERRYD_FLAGS")
    starts_and_drains(ferryd, "systemd ferryd.env", systemd_flags())
    starts_and_drains(ferryd, "Kubernetes DaemonSet args", kubernetes_args())
    starts_and_drains(ferryd, "image CMD", image_cmd())
    check_libraries(ferryd)

    print(f"{len(failures)} check(s) failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""deploy/k8s renders with kustomize, validates offline against the Kubernetes schemas, and
says what ferryd needs: gRPC health probes, one GPU, the restricted Pod Security Standard, a
drain that fits the grace period, a memory-backed /dev/shm, a headless Service, and (in the
single-gpu overlay) a one-replica Deployment under a PodDisruptionBudget.

Needs kubectl (skips, saying so, without it) and the pinned kubernetes-validate from
tests/deploy_k8s_requirements.txt, pip-installed into a cache directory on first use.
"""

import copy
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

# Native gRPC probes are GA from 1.27; the newest schema the pinned package ships is checked too.
OLDEST_KUBERNETES = "1.27.0"
NAMESPACE = "ferry"
GRPC_PORT = 7070
METRICS_PORT = 9090
BULK_PORT = 7071
DEFAULT_DRAIN_SECONDS = 30  # ferryd's --drain_seconds default


def repo_root():
    srcdir = os.environ.get("TEST_SRCDIR")
    if srcdir:
        return os.path.join(srcdir, os.environ.get("TEST_WORKSPACE", "ferry"))
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


ROOT = repo_root()


# ---- dependencies -------------------------------------------------------------------------

def ensure_pip():
    if subprocess.run([sys.executable, "-m", "pip", "--version"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
        return
    # A fresh Debian has python3 without pip; Debian's own package provides it.
    if os.geteuid() == 0 and shutil.which("apt-get") and sys.executable.startswith("/usr/bin/"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
        if subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                           "python3-pip"], **quiet).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True, **quiet)
            subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                            "python3-pip"], check=True, **quiet)
        return
    sys.exit(f"FAIL: {sys.executable} has no pip, and this test cannot install python3-pip "
             "(needs root and apt-get): install pip for it")


def import_kubernetes_validate():
    """Imports the pinned kubernetes_validate, installing it under a stable cache dir."""
    requirements = os.path.join(ROOT, "tests", "deploy_k8s_requirements.txt")
    with open(requirements, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    cache = os.environ.get("FERRY_TEST_PYDEPS", "/tmp/ferry-test-pydeps")
    target = os.path.join(cache, f"py{sys.version_info[0]}.{sys.version_info[1]}-{digest}")
    if not os.path.exists(os.path.join(target, ".complete")):
        ensure_pip()
        os.makedirs(cache, exist_ok=True)
        staging = f"{target}.tmp.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        print(f"installing {os.path.relpath(requirements, ROOT)} into {target}", flush=True)
        # --target leaves the interpreter's own site-packages alone (and so is allowed
        # under Debian's externally-managed Python).
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-input", "--retries", "2", "--timeout", "60", "--target", staging,
             "--requirement", requirements],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            sys.exit("FAIL: pip install of the pinned kubernetes-validate failed:\n" +
                     result.stdout)
        open(os.path.join(staging, ".complete"), "w").close()
        try:
            os.rename(staging, target)
        except OSError:  # another run finished the same install first
            shutil.rmtree(staging, ignore_errors=True)
    sys.path.insert(0, target)
    import kubernetes_validate  # noqa: E402
    import kubernetes_validate.utils  # noqa: E402
    return kubernetes_validate


# ---- checks -------------------------------------------------------------------------------

failures = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        failures.append(what)
    return condition


def render(kustomization_dir):
    result = subprocess.run(["kubectl", "kustomize", kustomization_dir],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    name = "deploy/k8s/" + kustomization_dir.split("/k8s/", 1)[1]
    if not check(result.returncode == 0, f"kubectl kustomize {name} succeeds"):
        print(result.stderr)
        return []
    # Kustomize prints deprecation notices on stderr; the manifests should need none.
    check(result.stderr.strip() == "", f"kubectl kustomize {name} prints no warnings"
          + (f" (got: {result.stderr.strip()})" if result.stderr.strip() else ""))
    import yaml
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def validate_schemas(kv, objects, label):
    versions = [OLDEST_KUBERNETES, kv.utils.latest_version()]
    for obj in objects:
        name = f"{label}: {obj['kind']}/{obj['metadata']['name']}"
        for version in versions:
            try:
                kv.validate(obj, version, strict=True)
                check(True, f"{name} matches the Kubernetes {version} schema (strict)")
            except kv.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                check(False, f"{name} matches the Kubernetes {version} schema: {path}: "
                      f"{e.message}")
            except Exception as e:  # no schema for the kind, unsupported version, ...
                check(False, f"{name} has a Kubernetes {version} schema: "
                      f"{getattr(e, 'message', e)}")


def kubernetes_bytes(quantity):
    """Bytes in a Kubernetes memory quantity: 64Gi, 8G, 512Mi, 1000."""
    match = re.fullmatch(r"(\d+)([KMGT]i?)?", str(quantity))
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    scale = {None: 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[match.group(2)]
    return int(match.group(1)) * scale


def ferryd_bytes(size):
    """Bytes in a ferryd byte-size flag: K, M, G and T are binary (48G = 48 GiB)."""
    match = re.fullmatch(r"(\d+)([KMGT])?", size)
    if not match:
        raise ValueError(f"not a ferryd byte size: {size!r}")
    return int(match.group(1)) << (10 * " KMGT".index(match.group(2) or " "))


def flag_value(args, name):
    for arg in args:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def check_restricted(pod_spec, label):
    """The "restricted" Pod Security Standard, as the admission controller enforces it."""
    pod_sc = pod_spec.get("securityContext", {})
    check(not any(pod_spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")),
          f"{label}: no host namespaces")
    allowed_volumes = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                       "persistentVolumeClaim", "projected", "secret"}
    for volume in pod_spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        check(kinds <= allowed_volumes,
              f"{label}: volume {volume['name']} is of a restricted-allowed type ({kinds})")
    for c in pod_spec.get("containers", []) + pod_spec.get("initContainers", []):
        sc = c.get("securityContext", {})
        name = f"{label}: container {c['name']}"
        check(not sc.get("privileged", False), f"{name} is not privileged")
        check(sc.get("allowPrivilegeEscalation") is False,
              f"{name} sets allowPrivilegeEscalation: false")
        caps = sc.get("capabilities", {})
        check("ALL" in caps.get("drop", []), f"{name} drops ALL capabilities")
        check(set(caps.get("add", [])) <= {"NET_BIND_SERVICE"},
              f"{name} adds no capability beyond NET_BIND_SERVICE")
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        check(non_root is True, f"{name} runs with runAsNonRoot: true")
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        check(isinstance(uid, int) and uid > 0, f"{name} runs as a fixed non-zero uid ({uid})")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        check(seccomp in ("RuntimeDefault", "Localhost"),
              f"{name} has a RuntimeDefault seccomp profile ({seccomp})")
        check(sc.get("readOnlyRootFilesystem") is True,
              f"{name} has a read-only root filesystem")
        check(not any(p.get("hostPort") for p in c.get("ports", [])), f"{name} uses no hostPort")


def grpc_probe(container, kind):
    return (container.get(kind) or {}).get("grpc")


def check_pod_template(template, label):
    spec = template["spec"]
    containers = spec["containers"]
    if not check(len(containers) == 1 and containers[0]["name"] == "ferryd",
                 f"{label}: one container, ferryd"):
        return
    c = containers[0]

    liveness = grpc_probe(c, "livenessProbe")
    readiness = grpc_probe(c, "readinessProbe")
    startup = grpc_probe(c, "startupProbe")
    check(liveness == {"port": GRPC_PORT, "service": ""},
          f"{label}: livenessProbe is gRPC health on {GRPC_PORT}, service \"\" ({liveness})")
    check(readiness == {"port": GRPC_PORT, "service": "ready"},
          f"{label}: readinessProbe is gRPC health on {GRPC_PORT}, service \"ready\" "
          f"({readiness})")
    check(startup is not None and startup.get("port") == GRPC_PORT,
          f"{label}: startupProbe is gRPC health on {GRPC_PORT} ({startup})")

    limits = c.get("resources", {}).get("limits", {})
    check(str(limits.get("nvidia.com/gpu")) == "1", f"{label}: limits nvidia.com/gpu: 1")
    check(spec.get("nodeSelector", {}).get("nvidia.com/gpu.present") == "true",
          f"{label}: nodeSelector nvidia.com/gpu.present: \"true\"")
    check(any(t.get("key") == "nvidia.com/gpu" and t.get("effect") == "NoSchedule"
              for t in spec.get("tolerations", [])),
          f"{label}: tolerates the nvidia.com/gpu NoSchedule taint")

    check_restricted(spec, label)
    check(spec.get("automountServiceAccountToken") is False,
          f"{label}: mounts no service account token")

    args = c.get("args", [])
    drain = int(flag_value(args, "drain_seconds") or DEFAULT_DRAIN_SECONDS)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    check(grace > drain,
          f"{label}: terminationGracePeriodSeconds ({grace}) > --drain_seconds ({drain})")
    check(flag_value(args, "listen") in (None, f"0.0.0.0:{GRPC_PORT}", f"[::]:{GRPC_PORT}"),
          f"{label}: ferryd listens on port {GRPC_PORT} on every interface")
    max_memory = flag_value(args, "max_memory")
    memory_limit = limits.get("memory")
    if check(max_memory is not None and memory_limit is not None,
             f"{label}: --max_memory and a memory limit are both set"):
        check(ferryd_bytes(max_memory) < kubernetes_bytes(memory_limit),
              f"{label}: --max_memory ({max_memory}) is under the memory limit "
              f"({memory_limit})")

    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    shm = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/dev/shm"]
    check(len(shm) == 1 and
          volumes.get(shm[0]["name"], {}).get("emptyDir", {}).get("medium") == "Memory",
          f"{label}: /dev/shm is an emptyDir with medium: Memory")
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    for variable in ("CUDA_CACHE_PATH", "FERRY_KERNEL_CACHE_DIR"):
        cache = env.get(variable, "")
        check(any(cache.startswith(m["mountPath"] + "/") for m in c.get("volumeMounts", [])),
              f"{label}: {variable} ({cache}) is on a writable volume")

    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    check(ports == {"grpc": GRPC_PORT, "metrics": METRICS_PORT, "bulk": BULK_PORT},
          f"{label}: ports grpc {GRPC_PORT}, metrics {METRICS_PORT} and bulk {BULK_PORT} "
          f"({ports})")
    check(flag_value(args, "bulk_port") == str(BULK_PORT),
          f"{label}: the bulk channel is on the fixed port {BULK_PORT}")
    annotations = template["metadata"].get("annotations", {})
    check(annotations.get("prometheus.io/scrape") == "true" and
          annotations.get("prometheus.io/port") == str(METRICS_PORT),
          f"{label}: Prometheus scrape annotations point at port {METRICS_PORT}")

    image = c.get("image", "")
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    check(tag not in ("", "latest") or "@sha256:" in image,
          f"{label}: image {image} is pinned to a tag other than latest")


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_common(objects, label):
    namespaces = by_kind(objects, "Namespace")
    if check(len(namespaces) == 1 and namespaces[0]["metadata"]["name"] == NAMESPACE,
             f"{label}: the {NAMESPACE} namespace is part of it"):
        ns_labels = namespaces[0]["metadata"].get("labels", {})
        check(ns_labels.get("pod-security.kubernetes.io/enforce") == "restricted",
              f"{label}: the namespace enforces the restricted Pod Security Standard")
    for obj in objects:
        if obj["kind"] != "Namespace":
            check(obj["metadata"].get("namespace") == NAMESPACE,
                  f"{label}: {obj['kind']} is in namespace {NAMESPACE}")
        check(obj["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "ferry",
              f"{label}: {obj['kind']} carries the common label app.kubernetes.io/part-of")


def check_service(objects, pod_template, label):
    services = by_kind(objects, "Service")
    if not check(len(services) == 1, f"{label}: one Service"):
        return
    spec = services[0]["spec"]
    check(spec.get("clusterIP") == "None", f"{label}: the Service is headless (clusterIP: None)")
    check(labels_match(spec.get("selector"), pod_template["metadata"]["labels"]),
          f"{label}: the Service selects ferryd's pods")
    container_ports = {p["name"] for p in pod_template["spec"]["containers"][0]["ports"]}
    ports = {p["port"]: p.get("targetPort") for p in spec.get("ports", [])}
    check(set(ports) == {GRPC_PORT, METRICS_PORT, BULK_PORT} and
          set(ports.values()) <= container_ports,
          f"{label}: the Service exposes {GRPC_PORT}, {METRICS_PORT} and {BULK_PORT} onto named "
          f"container ports ({ports})")


def main():
    if not shutil.which("kubectl"):
        print("SKIPPED: kubectl is not on PATH, so the kustomizations cannot be rendered")
        return 0
    print(f"python {sys.version.split()[0]} at {sys.executable}")
    kv = import_kubernetes_validate()

    # Bazel's runfiles are symlinks, which kustomize will not read: render a real copy.
    scratch = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    k8s = os.path.join(scratch, "k8s")
    shutil.copytree(os.path.join(ROOT, "deploy", "k8s"), k8s, symlinks=False)
    base = render(os.path.join(k8s, "base"))
    overlay = render(os.path.join(k8s, "overlays", "single-gpu"))
    shutil.rmtree(scratch, ignore_errors=True)
    if failures:
        return 1
    validate_schemas(kv, base, "base")
    validate_schemas(kv, overlay, "single-gpu")

    # base: a DaemonSet on every GPU node.
    kinds = sorted(o["kind"] for o in base)
    check(kinds == ["DaemonSet", "Namespace", "Service"],
          f"base: Namespace, Service and DaemonSet ({kinds})")
    check_common(base, "base")
    daemonsets = by_kind(base, "DaemonSet")
    if daemonsets:
        ds = daemonsets[0]
        check_pod_template(ds["spec"]["template"], "base DaemonSet")
        check(labels_match(ds["spec"]["selector"]["matchLabels"],
                           ds["spec"]["template"]["metadata"]["labels"]),
              "base DaemonSet: its selector matches its pod template")
        check_service(base, ds["spec"]["template"], "base")

    # single-gpu: the same pod as one Deployment replica, under a PodDisruptionBudget.
    kinds = sorted(o["kind"] for o in overlay)
    check(kinds == ["Deployment", "Namespace", "PodDisruptionBudget", "Service"],
          f"single-gpu: Namespace, Service, Deployment and PodDisruptionBudget, no DaemonSet "
          f"({kinds})")
    check_common(overlay, "single-gpu")
    deployments = by_kind(overlay, "Deployment")
    if deployments:
        deploy = deployments[0]
        spec = deploy["spec"]
        template = spec["template"]
        check(spec.get("replicas") == 1, "single-gpu Deployment: replicas: 1")
        check(spec.get("strategy", {}).get("type") == "Recreate",
              "single-gpu Deployment: Recreate (a rolling update would wait for a second GPU)")
        check(labels_match(spec["selector"]["matchLabels"], template["metadata"]["labels"]),
              "single-gpu Deployment: its selector matches its pod template")
        check_pod_template(template, "single-gpu Deployment")
        if daemonsets:
            check(template == copy.deepcopy(daemonsets[0]["spec"]["template"]),
                  "single-gpu Deployment: its pod template is base's DaemonSet's, unchanged")
        check_service(overlay, template, "single-gpu")
        pdbs = by_kind(overlay, "PodDisruptionBudget")
        if check(len(pdbs) == 1, "single-gpu: one PodDisruptionBudget"):
            pdb = pdbs[0]["spec"]
            check(labels_match(pdb.get("selector", {}).get("matchLabels"),
                               template["metadata"]["labels"]),
                  "single-gpu PodDisruptionBudget: selects ferryd's pods")
            check(pdb.get("minAvailable") == 1,
                  "single-gpu PodDisruptionBudget: minAvailable: 1")

    print(f"{len(failures)} check(s) failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

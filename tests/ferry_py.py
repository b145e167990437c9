"""Helpers for the Python tests that talk to a real ferryd: the ferry.v1 and grpc.health.v1
stubs, generated from the project's protos at test time with protoc and Debian's
grpc_python_plugin, and a ferryd child process on a free loopback port.

The tests run under Debian's /usr/bin/python3, whose python3-grpcio and python3-protobuf
match the protoc that generates the stubs.
"""

import atexit
import contextlib
import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def repo_root():
    srcdir = os.environ.get("TEST_SRCDIR")
    if srcdir:
        return os.path.join(srcdir, os.environ.get("TEST_WORKSPACE", "ferry"))
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ferryd_path(argument):
    """The ferryd binary Bazel passed as $(rootpath //server:ferryd)."""
    return argument if os.path.isabs(argument) else os.path.join(repo_root(), argument)


def scratch_dir(prefix):
    """A new directory, removed when the test process exits."""
    path = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TEST_TMPDIR"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def generate_stubs(out_dir):
    """Generates ferry_pb2/ferry_pb2_grpc and health_pb2/health_pb2_grpc into out_dir and
    returns the four modules."""
    root = repo_root()
    proto_dir = os.path.join(out_dir, "protos")
    os.makedirs(proto_dir, exist_ok=True)
    # Flat copies, so the generated modules import each other without packages (a
    # grpc/health/v1 package would shadow the grpc library).
    shutil.copy(os.path.join(root, "proto", "ferry", "v1", "ferry.proto"), proto_dir)
    shutil.copy("/usr/share/grpc-proto/grpc/health/v1/health.proto", proto_dir)
    for proto in ("ferry.proto", "health.proto"):
        subprocess.run(
            ["protoc", f"-I{proto_dir}", f"--python_out={out_dir}",
             f"--grpc_python_out={out_dir}",
             "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
             os.path.join(proto_dir, proto)],
            check=True)
    sys.path.insert(0, out_dir)
    return tuple(importlib.import_module(name) for name in
                 ("ferry_pb2", "ferry_pb2_grpc", "health_pb2", "health_pb2_grpc"))


def free_port():
    """A loopback port free right now (for endpoints that cannot report the port they got)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ferryd:
    """A ferryd child on 127.0.0.1 with `flags`; its stderr goes to `log_path`."""

    def __init__(self, binary, flags, log_path, env=None, stderr_file=None):
        self.tmp = scratch_dir("ferryd-")
        port_file = os.path.join(self.tmp, "port")
        self.log_path = log_path
        self.owns_log = stderr_file is None
        self.log = stderr_file or open(log_path, "w")
        self.process = subprocess.Popen(
            [binary, "--listen=127.0.0.1:0", f"--port_file={port_file}"] + flags,
            stdout=self.log, stderr=self.log, env=env if env is not None else dict(os.environ))
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"ferryd did not start:\n{self.read_log()}")
            time.sleep(0.05)
        with open(port_file) as f:
            self.port = int(f.read())
        self.address = f"127.0.0.1:{self.port}"

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        """SIGTERM, then the exit status (SIGKILL after 30 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.owns_log:
            self.log.close()
        return self.process.returncode


@contextlib.contextmanager
def ferryd(binary, flags, log_path, **kwargs):
    daemon = Ferryd(binary, flags, log_path, **kwargs)
    try:
        yield daemon
    finally:
        daemon.stop()


# ---- graph-building shorthands (the ferry.v1 IR, written by hand) ---------------------------

def spec(pb, dtype, shape):
    return pb.TensorSpec(dtype=dtype, shape=list(shape))


def parameter(pb, index, out):
    return pb.Node(op="parameter", out=out, attrs=[
        pb.Attribute(name="index", i=index),
        pb.Attribute(name="dtype", dtype=out.dtype),
        pb.Attribute(name="shape", ints=pb.IntList(values=list(out.shape)))])


def constant_f32(pb, array):
    """A float32 constant node holding the NumPy array `array`."""
    import numpy as np
    array = np.ascontiguousarray(array, dtype="<f4")
    out = spec(pb, pb.FLOAT32, array.shape)
    return pb.Node(op="constant", out=out, attrs=[
        pb.Attribute(name="value", tensor=pb.Tensor(spec=out, data=array.tobytes()))])


def op(pb, name, inputs, out, attrs=()):
    return pb.Node(op=name, inputs=list(inputs), out=out, attrs=list(attrs))


def upload_requests(pb, session_id, buffer_id, array, chunk_bytes=1 << 20):
    """The Upload stream for the NumPy array `array` (float32)."""
    data = array.astype("<f4").tobytes()
    first = pb.UploadRequest(session_id=session_id, buffer_id=buffer_id,
                             spec=spec(pb, pb.FLOAT32, array.shape), total_bytes=len(data))
    offset = 0
    while True:
        message = first if offset == 0 else pb.UploadRequest()
        message.data = data[offset:offset + chunk_bytes]
        offset += chunk_bytes
        yield message
        if offset >= len(data):
            return


def download_floats(pb, stub, session_id, buffer_id):
    """Buffer `buffer_id` of the session, downloaded whole, as a flat float32 NumPy array."""
    import numpy as np
    chunks = stub.Download(pb.DownloadRequest(session_id=session_id, buffer_id=buffer_id),
                           timeout=30)
    return np.frombuffer(b"".join(chunk.data for chunk in chunks), dtype="<f4")

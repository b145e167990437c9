#!/usr/bin/python3
"""ferryctl against a real ferryd: every command, uploads of .npy, .safetensors and .gguf
files checked byte for byte by downloading them with an independent (Python) client, tokens
and TLS accepted and refused.

Usage: ferryctl_test.py PATH_TO_FERRYD PATH_TO_FERRYCTL GGUF_FILE ITS_ARRAYS_AS_MLX_LOADS_THEM
"""

import json
import os
import re
import struct
import subprocess
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferry_py  # noqa: E402

FERRYD = FERRYCTL = GGUF = GGUF_ARRAYS = None
PB = PB_GRPC = HEALTH = HEALTH_GRPC = None
TOKEN = "ferryctl-test-token"


def write_safetensors(path, tensors):
    """Writes {name: array} in the safetensors format (header JSON, then the raw bytes)."""
    dtypes = {np.dtype("float32"): "F32", np.dtype("int64"): "I64", np.dtype("uint8"): "U8"}
    header, blobs, offset = {"__metadata__": {"by": "ferryctl_test"}}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtypes[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def read_safetensors(path):
    """{name: array} of a safetensors file."""
    dtypes = {"F32": "<f4", "F16": "<f2", "U32": "<u4", "I8": "i1", "I16": "<i2", "I32": "<i4"}
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    return {name: np.frombuffer(data[t["data_offsets"][0]:t["data_offsets"][1]],
                                dtypes[t["dtype"]]).reshape(t["shape"])
            for name, t in header.items() if name != "__metadata__"}


class Ferryctl(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = ferry_py.scratch_dir("ferryctl-")
        cls.tokens = os.path.join(cls.tmp, "tokens")
        with open(cls.tokens, "w") as f:
            f.write(TOKEN + "\n")
        cls.daemon = ferry_py.Ferryd(
            FERRYD, [f"--auth_tokens_file={cls.tokens}", "--chunk_bytes=64K",
                     "--max_memory=256M", "--log_level=debug"], os.path.join(cls.tmp, "ferryd.log"))

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def ferryctl(self, *args, token=TOKEN, address=None, expect=0):
        env = dict(os.environ)
        env.pop("FERRY_TOKEN", None)
        if token is not None:
            env["FERRY_TOKEN"] = token
        result = subprocess.run(
            [FERRYCTL, f"--address={address or self.daemon.address}", "--timeout_seconds=5",
             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            timeout=120)
        self.assertEqual(result.returncode, expect,
                         f"ferryctl {' '.join(args)}:\n{result.stdout}\n{result.stderr}")
        return result.stdout, result.stderr

    def download(self, session, buffer_id):
        import grpc
        with grpc.insecure_channel(self.daemon.address) as channel:
            chunks = list(PB_GRPC.FerryStub(channel).Download(
                PB.DownloadRequest(session_id=session, buffer_id=buffer_id),
                metadata=[("authorization", f"Bearer {TOKEN}")], timeout=30))
        return chunks[0].spec, b"".join(c.data for c in chunks)

    def test_ping_health_info(self):
        out, _ = self.ferryctl("ping")
        self.assertRegex(out, r"^pong from 127\.0\.0\.1:\d+ \(ferryd [\d.]+\): 5 round trips, "
                              r"min [\d.]+ ms, median [\d.]+ ms\n$")
        out, _ = self.ferryctl("health", token=None)  # health needs no token
        self.assertEqual(out, 'liveness  ("")     SERVING\nreadiness ("ready") SERVING\n')
        out, _ = self.ferryctl("info")
        self.assertIn("device        cpu: ", out)
        self.assertIn("memory        ", out)
        self.assertIn("of 256.0 MiB (--max_memory)", out)
        self.assertRegex(out, r"(?m)^sessions      \d+ of at most 1024, lease ")
        self.assertIn("features      graph_cache", out)

    def test_bench_then_cache_counts_hits(self):
        out, _ = self.ferryctl("bench", "--bench_size=64", "--bench_iterations=3")
        self.assertRegex(out, r"^bench remote 127\.0\.0\.1:\d+ \(cpu: .*\): 3 x matmul 64x64 "
                              r"float32 \(\+1\), median [\d.]+ ms per eval, [\d.]+ GFLOP/s")
        out, _ = self.ferryctl("cache")
        hits = int(re.search(r"^hits +(\d+)$", out, re.M).group(1))
        self.assertGreaterEqual(hits, 3, out)  # the timed evals send the graph by id
        self.assertRegex(out, r"entries  \d+ of 1024")
        # The upload cache: a quarter of --max_memory by default.
        self.assertRegex(out, r"(?m)^uploads  \d+ kept, [^;]+ of 64\.0 MiB; \d+ hits, \d+ misses, "
                              r"0 rejected$")
        # The client library names every call; ferryctl names its own.
        log = self.daemon.read_log()
        # (the bench's evals travel on the session's Pipeline stream)
        self.assertRegex(log, r"rpc /ferry\.v1\.Ferry/Pipeline OK .* request_id=[0-9a-f]{16}\n")
        self.assertRegex(log, r"rpc /ferry\.v1\.Ferry/GetInfo OK .* request_id=ferryctl-\d+-1\n")

    def test_upload_npy_and_safetensors_then_sessions(self):
        x = np.arange(300000, dtype=np.float32).reshape(500, 600) / 7  # 1.1 MiB: many chunks
        npy = os.path.join(self.tmp, "x.npy")
        np.save(npy, x)
        out, err = self.ferryctl("upload", npy)
        session = re.search(r"^session ([0-9a-f]{32})$", out, re.M).group(1)
        self.assertIn("buffer 1 x.npy float32[500, 600] 1200000 bytes", out)
        self.assertIn("100%", err)  # the progress bar ends full
        spec, data = self.download(session, 1)
        self.assertEqual(list(spec.shape), [500, 600])
        np.testing.assert_array_equal(np.frombuffer(data, "<f4").reshape(500, 600), x)

        w = np.arange(12, dtype=np.float32).reshape(3, 4)
        ids = np.array([5, -1, 7], dtype=np.int64)
        st = os.path.join(self.tmp, "model.safetensors")
        write_safetensors(st, {"w": w, "ids": ids})
        out, _ = self.ferryctl("upload", st, f"--session={session}", "--first_buffer_id=10")
        self.assertIn("buffer 10 w float32[3, 4] 48 bytes", out)
        self.assertIn("buffer 11 ids int64[3] 24 bytes", out)
        np.testing.assert_array_equal(np.frombuffer(self.download(session, 10)[1], "<f4"),
                                      w.ravel())
        np.testing.assert_array_equal(np.frombuffer(self.download(session, 11)[1], "<i8"), ids)

        out, _ = self.ferryctl("sessions")
        row = [line for line in out.splitlines() if line.startswith(session[:8])]
        self.assertEqual(len(row), 1, out)
        self.assertRegex(row[0],
                         r"^\w{8} +3 +1\.1 MiB +1\.1 MiB +0 B +0 B +[\d.]+s +0 (idle|busy) +"
                         r"ferryctl upload "
                         r".*x\.npy$")

    def test_upload_warms_the_upload_cache(self):
        """A file uploaded again (by ferryctl or a client loading it) is not sent again."""
        import time
        w = np.arange(1 << 19, dtype=np.float32).reshape(512, 1024)  # 2 MiB: asks the cache
        st = os.path.join(self.tmp, "warm.safetensors")
        write_safetensors(st, {"w": w})
        def kept():
            return int(re.search(r"^uploads  (\d+) kept", self.ferryctl("cache")[0], re.M).group(1))
        before = kept()  # the suite's daemon may hold other tests' uploads
        out, _ = self.ferryctl("upload", st)
        self.assertIn("buffer 1 w float32[512, 1024] 2097152 bytes\n", out)
        deadline = time.time() + 30
        while kept() != before + 1:
            self.assertLess(time.time(), deadline, "the upload was never kept")
            time.sleep(0.05)
        out, _ = self.ferryctl("upload", st)
        self.assertIn("buffer 1 w float32[512, 1024] 2097152 bytes (held by the upload cache: "
                      "not sent)", out)
        session = re.search(r"^session ([0-9a-f]{32})$", out, re.M).group(1)
        np.testing.assert_array_equal(np.frombuffer(self.download(session, 1)[1], "<f4"),
                                      w.ravel())

    def test_upload_gguf_as_load_gguf_makes_it(self):
        """Each array as the client library's load_gguf sends it (quantized tensors as codes,
        scales and biases; K-quants as their blocks), so the upload cache serves a later load."""
        out, _ = self.ferryctl("upload", GGUF)
        session = re.search(r"^session ([0-9a-f]{32})$", out, re.M).group(1)
        ids = dict(re.findall(r"^buffer (\d+) (\S+) ", out, re.M))
        names = {name: int(i) for i, name in ids.items()}
        expected = read_safetensors(GGUF_ARRAYS)
        for name in ["plain.weight", "cube", "q4_0.weight", "q4_0.scales", "q8_0.biases",
                     "ints32"]:
            self.assertIn(name, names, out)
            spec, data = self.download(session, names[name])
            self.assertEqual(list(spec.shape), list(expected[name].shape), name)
            self.assertEqual(data, expected[name].tobytes(), name)
        self.assertIn(" q4_0.weight uint32[4, 8] 128 bytes\n", out)
        # K-quants go as their blocks, which the device dequantizes.
        self.assertIn(" q6_k.weight uint8[2, 210] 420 bytes\n", out)
        self.assertIn(" q4_k.weight uint8[4, 144] 576 bytes\n", out)
        with open(GGUF, "rb") as f:
            file_bytes = f.read()
        for name in ["q6_k.weight", "q4_k.weight"]:
            _, data = self.download(session, names[name])
            self.assertIn(data, file_bytes, name)

    def test_refusals(self):
        _, err = self.ferryctl("info", token="wrong", expect=1)
        self.assertIn("UNAUTHENTICATED", err)
        _, err = self.ferryctl("info", token=None, expect=1)
        self.assertIn("requires a bearer token", err)
        bad = os.path.join(self.tmp, "bad.npy")
        with open(bad, "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", 54) +
                    b"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }".ljust(54))
        _, err = self.ferryctl("upload", bad, expect=1)
        self.assertIn("[npy] dtype >f4 is not one ferry holds", err)
        _, err = self.ferryctl("frobnicate", expect=2)
        self.assertIn('unknown command "frobnicate"', err)

    def test_tls(self):
        certs = os.path.join(self.tmp, "certs")
        subprocess.run([os.path.join(ferry_py.repo_root(), "tests", "make_test_certs.sh"), certs],
                       check=True)
        with ferry_py.ferryd(FERRYD, [f"--tls_cert={certs}/server.pem",
                                      f"--tls_key={certs}/server.key",
                                      f"--tls_client_ca={certs}/ca.pem"],
                             os.path.join(self.tmp, "tls.log")) as daemon:
            out, _ = self.ferryctl("ping", f"--tls_ca={certs}/ca.pem",
                                   f"--tls_cert={certs}/client.pem",
                                   f"--tls_key={certs}/client.key", address=daemon.address)
            self.assertTrue(out.startswith("pong from"), out)
            _, err = self.ferryctl("ping", f"--tls_ca={certs}/other_ca.pem",
                                   f"--tls_cert={certs}/client.pem",
                                   f"--tls_key={certs}/client.key", "--timeout_seconds=2",
                                   address=daemon.address, expect=1)
            self.assertIn("UNAVAILABLE", err)


if __name__ == "__main__":
    FERRYD = ferry_py.ferryd_path(sys.argv.pop(1))
    FERRYCTL = ferry_py.ferryd_path(sys.argv.pop(1))
    GGUF = ferry_py.ferryd_path(sys.argv.pop(1))
    GGUF_ARRAYS = ferry_py.ferryd_path(sys.argv.pop(1))
    PB, PB_GRPC, HEALTH, HEALTH_GRPC = ferry_py.generate_stubs(ferry_py.scratch_dir("stubs-"))
    unittest.main(verbosity=2)

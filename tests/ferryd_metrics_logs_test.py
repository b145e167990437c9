#!/usr/bin/python3
"""ferryd's operations surface, seen from outside:
- its Prometheus endpoint (--metrics_port), scraped over HTTP after real calls: requests by
  method and status code, the Execute latency histogram, bytes in and out, sessions,
  resident bytes per device, device memory, graph-cache hits and misses;
- its logs: one line per event, journald "<N>" priority prefixes when stderr is the journal
  ($JOURNAL_STREAM names it), plain timestamped lines otherwise, --log_level filtering,
  and the client's x-request-id on the lines of each call.

Usage: ferryd_metrics_logs_test.py PATH_TO_FERRYD
"""

import os
import re
import shutil
import subprocess
import sys
import unittest
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferry_py  # noqa: E402

FERRYD = None
PB = PB_GRPC = HEALTH = HEALTH_GRPC = None
EXECUTE = "/ferry.v1.Ferry/Execute"
UPLOAD = "/ferry.v1.Ferry/Upload"


def scrape(port):
    """The metrics endpoint's samples: {(name, ((label, value), ...)): float}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        assert match, f"not a Prometheus sample line: {line!r}"
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', match.group(2) or "")))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def journal_env(log_file):
    """The environment systemd gives a service whose stderr is `log_file` in the journal."""
    info = os.fstat(log_file.fileno())
    return dict(os.environ, JOURNAL_STREAM=f"{info.st_dev}:{info.st_ino}")


class MetricsAndLogs(unittest.TestCase):

    def run_calls(self, address):
        """Health, a session, an upload, two Executes (graph, then graph_id), a bad graph and
        an upload over the memory limit; each call carries its own x-request-id."""
        import grpc
        channel = grpc.insecure_channel(address)
        ferry = PB_GRPC.FerryStub(channel)
        health = HEALTH_GRPC.HealthStub(channel)
        self.assertEqual(health.Check(HEALTH.HealthCheckRequest(), timeout=10).status,
                         HEALTH.HealthCheckResponse.SERVING)
        opened = ferry.OpenSession(
            PB.OpenSessionRequest(min_protocol_version=1, max_protocol_version=1,
                                  client_name="metrics test"),
            metadata=[("x-request-id", "req-open-1")], timeout=10)
        x = np.arange(4, dtype=np.float32)
        ferry.Upload(ferry_py.upload_requests(PB, opened.session_id, 1, x), timeout=10,
                     metadata=[("x-request-id", "req-upload-1")])
        out = ferry_py.spec(PB, PB.FLOAT32, [4])
        graph = PB.Graph(nodes=[ferry_py.parameter(PB, 0, out),
                                ferry_py.constant_f32(PB, np.ones(4)),
                                ferry_py.op(PB, "add", [0, 1], out)], outputs=[2])
        request = PB.ExecuteRequest(
            session_id=opened.session_id, graph=graph,
            bindings=[PB.Binding(buffer_id=1)],
            outputs=[PB.OutputRequest(buffer_id=0, inline_up_to_bytes=1024)])
        first = ferry.Execute(request, metadata=[("x-request-id", "req-exec-1")], timeout=30)
        request.ClearField("graph")
        request.graph_id = first.graph_id
        second = ferry.Execute(request, metadata=[("x-request-id", "req-exec-2")], timeout=30)
        np.testing.assert_array_equal(np.frombuffer(second.outputs[0].data, "<f4"), x + 1)
        bad = PB.Graph(nodes=[ferry_py.op(PB, "add", [0, 1], out)], outputs=[0])
        with self.assertRaises(grpc.RpcError) as error:
            ferry.Execute(PB.ExecuteRequest(session_id=opened.session_id, graph=bad),
                          metadata=[("x-request-id", "req-bad-1")], timeout=30)
        self.assertEqual(error.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as error:
            ferry.Upload(iter([PB.UploadRequest(
                session_id=opened.session_id, buffer_id=2,
                spec=ferry_py.spec(PB, PB.FLOAT32, [1 << 30]), total_bytes=4 << 30)]),
                metadata=[("x-request-id", "req-huge-1")], timeout=30)
        self.assertEqual(error.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        channel.close()

    def setUp(self):
        self.tmp = ferry_py.scratch_dir("ferryd-test-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def test_metrics_after_real_calls_and_journald_lines(self):
        tmp = self.tmp
        metrics_port = ferry_py.free_port()
        log_path = os.path.join(tmp, "stderr")
        log_file = open(log_path, "w")
        self.addCleanup(log_file.close)
        with ferry_py.ferryd(FERRYD, [f"--metrics_port={metrics_port}", "--log_level=debug",
                                      "--max_memory=256M"],
                             log_path, env=journal_env(log_file), stderr_file=log_file) as d:
            self.run_calls(d.address)
            samples = scrape(metrics_port)
        log = d.read_log()  # after the drain, so the SIGTERM line is in

        def value(name, **labels):
            key = (name, tuple(sorted(labels.items())))
            self.assertIn(key, samples, f"{name}{labels} missing from the scrape")
            return samples[key]

        self.assertEqual(value("ferry_rpc_requests_total", method=EXECUTE, code="OK"), 2)
        self.assertEqual(value("ferry_rpc_requests_total", method=EXECUTE,
                               code="INVALID_ARGUMENT"), 1)
        self.assertEqual(value("ferry_rpc_requests_total", method=UPLOAD,
                               code="RESOURCE_EXHAUSTED"), 1)
        self.assertEqual(value("ferry_rpc_requests_total", method="/ferry.v1.Ferry/OpenSession",
                               code="OK"), 1)
        self.assertEqual(value("ferry_rpc_requests_total",
                               method="/grpc.health.v1.Health/Check", code="OK"), 1)
        self.assertEqual(value("ferry_execute_duration_seconds_count"), 3)
        self.assertEqual(value("ferry_execute_duration_seconds_bucket", le="+Inf"), 3)
        self.assertGreater(value("ferry_execute_duration_seconds_sum"), 0)
        self.assertGreaterEqual(value("ferry_rpc_received_bytes_total", method=UPLOAD), 16)
        self.assertGreater(value("ferry_rpc_sent_bytes_total", method=EXECUTE), 16)
        self.assertEqual(value("ferry_sessions"), 1)
        self.assertEqual(value("ferry_resident_bytes", device="cpu:0"), 16)
        self.assertEqual(value("ferry_device_memory_bytes", device="cpu:0", kind="limit"),
                         256 << 20)
        self.assertGreaterEqual(value("ferry_device_memory_bytes", device="cpu:0",
                                      kind="in_use"), 16)
        self.assertGreater(value("ferry_device_memory_bytes", device="cpu:0", kind="total"), 0)
        self.assertEqual(value("ferry_graph_cache_hits_total"), 1)  # the graph_id execute
        self.assertEqual(value("ferry_graph_cache_misses_total"), 0)  # no unknown graph_id
        self.assertEqual(value("ferry_graph_cache_entries"), 1)
        # The session is open still, and nothing was stopped part-way.
        for reason in ("closed", "expired", "abandoned"):
            self.assertEqual(value("ferry_sessions_ended_total", reason=reason), 0)
        self.assertEqual(value("ferry_executes_cancelled_total"), 0)

        lines = log.splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^<[3467]>\S", "every line carries a journald priority")
        self.assertTrue(any(l.startswith("<6>serving ferry.v1 on ") for l in lines), log)
        self.assertTrue(any(l.startswith("<6>session ") and l.endswith("request_id=req-open-1")
                            for l in lines), log)
        self.assertTrue(any(l.startswith(f"<7>rpc {EXECUTE} OK ") and
                            l.endswith("request_id=req-exec-2") for l in lines), log)
        self.assertTrue(any(l.startswith(f"<6>rpc {EXECUTE} INVALID_ARGUMENT ") and
                            "request_id=req-bad-1" in l for l in lines), log)
        self.assertTrue(any(l.startswith(f"<4>rpc {UPLOAD} RESOURCE_EXHAUSTED ") and
                            "request_id=req-huge-1" in l for l in lines), log)
        self.assertTrue(any(l.startswith("<6>got SIGTERM") for l in lines), log)

    def test_plain_lines_without_the_journal_and_info_hides_calls(self):
        tmp = self.tmp
        log_path = os.path.join(tmp, "stderr")
        # $JOURNAL_STREAM inherited from a parent whose stderr is elsewhere must not count.
        env = dict(os.environ, JOURNAL_STREAM="1:1")
        with ferry_py.ferryd(FERRYD, ["--max_memory=256M"], log_path, env=env) as d:
            self.run_calls(d.address)
        log = d.read_log()
        lines = log.splitlines()
        for line in lines:
            self.assertRegex(line, r"^ferryd \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                                   r"(DEBUG|INFO|WARNING|ERROR) \S")
        self.assertFalse(any(" rpc " in l and " OK " in l for l in lines),
                         "--log_level=info leaves out the line per successful call")
        self.assertTrue(any(" INFO rpc /ferry.v1.Ferry/Execute INVALID_ARGUMENT " in l
                            for l in lines), log)

    def test_a_bad_flag_is_an_error_line_and_exit_2(self):
        tmp = self.tmp
        log_path = os.path.join(tmp, "stderr")
        with open(log_path, "w") as log_file:
            result = subprocess.run([FERRYD, "--listen=127.0.0.1:0", "--log_level=loud"],
                                    stderr=log_file, env=journal_env(log_file), timeout=30)
        with open(log_path) as f:
            log = f.read()
        self.assertEqual(result.returncode, 2)
        self.assertEqual(log, "<3>--log_level=loud is not a level: use debug, info, warning "
                              "or error\n")


if __name__ == "__main__":
    FERRYD = ferry_py.ferryd_path(sys.argv.pop(1))
    PB, PB_GRPC, HEALTH, HEALTH_GRPC = ferry_py.generate_stubs(ferry_py.scratch_dir("stubs-"))
    unittest.main(verbosity=2)

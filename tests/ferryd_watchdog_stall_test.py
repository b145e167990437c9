#!/usr/bin/python3
"""The systemd watchdog follows the executor, not the process: ferryd pings WATCHDOG=1 while
idle, stops pinging while one graph node runs longer than the watchdog interval (what a hung
kernel looks like, so systemd restarts the daemon), and pings again once the node finishes.

One matmul node of 6144 x 6144 float32 (0.46 TFLOP) runs far longer than the 100 ms interval
given here on any CPU this test meets; the check is that the gap between two pings spanning
the node exceeds the interval, while idle pings come every interval / 4.

Usage: ferryd_watchdog_stall_test.py PATH_TO_FERRYD
"""

import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferry_py  # noqa: E402

FERRYD = None
PB = PB_GRPC = None
INTERVAL_S = 0.1
N = 6144


class WatchdogStall(unittest.TestCase):

    def test_pings_stop_while_a_node_runs_long_and_resume_after(self):
        import grpc
        workdir = tempfile.mkdtemp(prefix="ferry-wd-", dir="/tmp")  # sun_path is short
        self.addCleanup(shutil.rmtree, workdir, ignore_errors=True)
        notify_path = os.path.join(workdir, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(notify_path)
        self.addCleanup(sock.close)
        pings = []
        stop = threading.Event()

        def listen():
            sock.settimeout(0.05)
            while not stop.is_set():
                try:
                    datagram = sock.recv(4096).decode()
                except socket.timeout:
                    continue
                if "WATCHDOG=1" in datagram.split("\n"):
                    pings.append(time.monotonic())

        listener = threading.Thread(target=listen)
        listener.start()
        env = dict(os.environ, NOTIFY_SOCKET=notify_path,
                   WATCHDOG_USEC=str(int(INTERVAL_S * 1e6)))
        try:
            with ferry_py.ferryd(FERRYD, ["--max_memory=2G"], os.path.join(workdir, "log"),
                                 env=env) as daemon:
                channel = grpc.insecure_channel(daemon.address)
                ferry = PB_GRPC.FerryStub(channel)
                session = ferry.OpenSession(PB.OpenSessionRequest(
                    min_protocol_version=1, max_protocol_version=1), timeout=10).session_id
                deadline = time.monotonic() + 10
                while len(pings) < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertGreaterEqual(len(pings), 3, "an idle ferryd pings the watchdog")

                square = ferry_py.spec(PB, PB.FLOAT32, [N, N])
                full = ferry_py.op(PB, "full", [], square, attrs=[
                    PB.Attribute(name="value", f=1.0 / N),
                    PB.Attribute(name="shape", ints=PB.IntList(values=[N, N])),
                    PB.Attribute(name="dtype", dtype=PB.FLOAT32)])
                total = ferry_py.op(PB, "sum", [1], ferry_py.spec(PB, PB.FLOAT32, []), attrs=[
                    PB.Attribute(name="axes", ints=PB.IntList(values=[0, 1])),
                    PB.Attribute(name="keepdims", i=0)])
                graph = PB.Graph(nodes=[full, ferry_py.op(PB, "matmul", [0, 0], square), total],
                                 outputs=[2])
                started = time.monotonic()
                reply = ferry.Execute(PB.ExecuteRequest(
                    session_id=session, graph=graph,
                    outputs=[PB.OutputRequest(inline_up_to_bytes=4)]), timeout=600)
                finished = time.monotonic()
                self.assertAlmostEqual(float(np.frombuffer(reply.outputs[0].data, "<f4")[0]),
                                       N, delta=N * 1e-3)
                deadline = time.monotonic() + 10
                while not any(t > finished for t in pings) and time.monotonic() < deadline:
                    time.sleep(0.05)
                channel.close()
        finally:
            stop.set()
            listener.join()

        self.assertTrue(any(t > finished for t in pings), "pings resume after the node")
        spanning = [t for t in pings if t <= started][-1:] + \
                   [t for t in pings if started < t <= finished] + \
                   [t for t in pings if t > finished][:1]
        gaps = [b - a for a, b in zip(spanning, spanning[1:])]
        self.assertGreater(finished - started, 2 * INTERVAL_S,
                           "the node ran too briefly to tell; make N larger")
        self.assertGreater(max(gaps), INTERVAL_S,
                           f"pings went on while the node ran {finished - started:.2f} s: {gaps}")


if __name__ == "__main__":
    FERRYD = ferry_py.ferryd_path(sys.argv.pop(1))
    PB, PB_GRPC, _, _ = ferry_py.generate_stubs(ferry_py.scratch_dir("stubs-"))
    unittest.main(verbosity=2)

#!/usr/bin/env python3
"""ferryd under a real systemd notify socket: READY=1 once serving, WATCHDOG=1 pings while
idle, STOPPING=1 on SIGTERM, then exit 0 (what Type=notify and WatchdogSec in
deploy/systemd/ferryd.service rely on)."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def receive_until(sock, wanted, deadline):
    """Collects notify datagrams until one holds the line `wanted`; returns all lines."""
    lines = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            datagram = sock.recv(4096).decode()
        except socket.timeout:
            break
        lines.extend(datagram.split("\n"))
        if wanted in lines:
            return lines
    raise AssertionError(f"no {wanted!r} from ferryd; got {lines!r}")


def main():
    ferryd = sys.argv[1]
    if not os.path.isabs(ferryd):
        ferryd = os.path.join(os.environ.get("TEST_SRCDIR", "."), "ferry", ferryd)
    workdir = tempfile.mkdtemp(prefix="ferry-notify-", dir="/tmp")  # sun_path is short
    notify_path = os.path.join(workdir, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)

    env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="400000")
    daemon = subprocess.Popen(
        [ferryd, "--listen=127.0.0.1:0", "--max_memory=64M", "--drain_seconds=2"],
        env=env, stderr=subprocess.PIPE, text=True)
    try:
        lines = receive_until(sock, "READY=1", time.monotonic() + 30)
        status = [line for line in lines if line.startswith("STATUS=")]
        assert status and "serving ferry.v1" in status[0], lines
        # An idle executor is not stalled: the watchdog keeps pinging.
        receive_until(sock, "WATCHDOG=1", time.monotonic() + 5)
        receive_until(sock, "WATCHDOG=1", time.monotonic() + 5)

        daemon.send_signal(signal.SIGTERM)
        receive_until(sock, "STOPPING=1", time.monotonic() + 10)
        code = daemon.wait(timeout=30)
        assert code == 0, f"ferryd exited {code}: {daemon.stderr.read()}"
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        sock.close()
        os.unlink(notify_path)
        os.rmdir(workdir)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""An independent client: Python, gRPC from Debian's python3-grpcio, stubs generated from
the project's protos by protoc and grpc_python_plugin at test time, nothing of ferry's C++.
It checks health, opens a session, uploads two matrices in chunks, runs relu(x @ w + b)
keeping the result resident, downloads it in chunks and compares with NumPy; then reuses the
graph by id, reads GetInfo's session list and cache figures, and closes the session. A
second case resumes an upload whose client went silent, and downloads from part way; a third
copies a buffer from one daemon to another, daemon to daemon, with Pipeline steps; a fourth
gets a second session's buffer from the daemon's upload cache, the digest computed here.

Usage: ferryd_python_client_test.py PATH_TO_FERRYD
"""

import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferry_py  # noqa: E402

FERRYD = None
PB = PB_GRPC = HEALTH = HEALTH_GRPC = None


class IndependentClient(unittest.TestCase):

    def test_upload_execute_download_matches_numpy(self):
        import grpc
        tmp = ferry_py.scratch_dir("ferryd-pyclient-")
        # Small chunks, so upload and download really stream several messages.
        with ferry_py.ferryd(FERRYD, ["--chunk_bytes=4096", "--max_memory=256M"],
                             os.path.join(tmp, "stderr")) as daemon:
            channel = grpc.insecure_channel(daemon.address)
            health = HEALTH_GRPC.HealthStub(channel)
            for service in ("", "ready"):
                reply = health.Check(HEALTH.HealthCheckRequest(service=service), timeout=10)
                self.assertEqual(reply.status, HEALTH.HealthCheckResponse.SERVING, service)

            ferry = PB_GRPC.FerryStub(channel)
            opened = ferry.OpenSession(PB.OpenSessionRequest(
                min_protocol_version=1, max_protocol_version=1, client_name="python"),
                timeout=10)
            self.assertEqual(opened.protocol_version, 1)
            self.assertEqual(opened.limits.chunk_bytes, 4096)
            session = opened.session_id

            rng = np.random.default_rng(7)
            x = rng.standard_normal((64, 48)).astype(np.float32)
            w = rng.standard_normal((48, 32)).astype(np.float32)
            b = rng.standard_normal(32).astype(np.float32)
            for buffer_id, array in ((1, x), (2, w)):
                reply = ferry.Upload(ferry_py.upload_requests(PB, session, buffer_id, array,
                                                              chunk_bytes=4096), timeout=30)
                self.assertEqual(reply.bytes_received, array.nbytes)

            f32 = PB.FLOAT32
            s = lambda shape: ferry_py.spec(PB, f32, shape)  # noqa: E731
            graph = PB.Graph(nodes=[
                ferry_py.parameter(PB, 0, s([64, 48])),
                ferry_py.parameter(PB, 1, s([48, 32])),
                ferry_py.constant_f32(PB, b),
                ferry_py.op(PB, "matmul", [0, 1], s([64, 32])),
                ferry_py.op(PB, "add", [3, 2], s([64, 32])),
                ferry_py.op(PB, "relu", [4], s([64, 32])),
            ], outputs=[5])
            executed = ferry.Execute(PB.ExecuteRequest(
                session_id=session, graph=graph,
                bindings=[PB.Binding(buffer_id=1), PB.Binding(buffer_id=2)],
                outputs=[PB.OutputRequest(buffer_id=10, inline_up_to_bytes=0)]), timeout=60)
            self.assertEqual(executed.outputs[0].buffer_id, 10)
            self.assertFalse(executed.outputs[0].has_data)
            self.assertEqual(list(executed.outputs[0].spec.shape), [64, 32])

            chunks = list(ferry.Download(PB.DownloadRequest(session_id=session, buffer_id=10),
                                         timeout=30))
            self.assertGreater(len(chunks), 1)
            self.assertEqual(chunks[0].total_bytes, 64 * 32 * 4)
            data = b"".join(chunk.data for chunk in chunks)
            got = np.frombuffer(data, dtype="<f4").reshape(64, 32)
            np.testing.assert_allclose(got, np.maximum(x @ w + b, 0), rtol=1e-5, atol=1e-5)

            # The same graph by id, bound to the result of the first run, inline this time,
            # and profiled: each step timed, by op (add and relu run fused).
            self.assertIn("profile", opened.features)
            self.assertFalse(executed.HasField("profile"))
            again = ferry.Execute(PB.ExecuteRequest(
                session_id=session, graph_id=executed.graph_id,
                bindings=[PB.Binding(buffer_id=1), PB.Binding(buffer_id=2)],
                outputs=[PB.OutputRequest(buffer_id=0, inline_up_to_bytes=1 << 20)],
                release_buffer_ids=[10], profile=PB.PROFILE_STEPS), timeout=60)
            np.testing.assert_array_equal(
                np.frombuffer(again.outputs[0].data, "<f4").reshape(64, 32), got)
            profile = again.profile
            self.assertEqual(profile.backend, "cpu")
            self.assertTrue(profile.plan_cached)
            self.assertEqual(profile.queued_ns, 0)
            self.assertGreater(profile.run_ns, 0)
            steps = {(step.op, tuple(step.fused_ops), step.type) for step in profile.steps}
            self.assertIn(("matmul", (), "float32(64, 32)"), steps)
            self.assertIn(("fused", ("add", "relu"), "float32(64, 32)"), steps)
            self.assertLessEqual(sum(step.duration_ns for step in profile.steps), profile.run_ns)

            info = ferry.GetInfo(PB.GetInfoRequest(session_id=session), timeout=10)
            self.assertEqual(info.sessions, 1)
            self.assertEqual(info.session_buffers, 2)  # x and w; 10 was released
            self.assertEqual(info.session_resident_bytes, x.nbytes + w.nbytes)
            self.assertEqual([(s.id_prefix, s.client_name) for s in info.session_list],
                             [(session[:8], "python")])
            self.assertEqual(info.graph_cache.hits, 1)
            self.assertEqual(info.graph_cache.entries, 1)
            self.assertEqual(info.graph_cache.capacity, 1024)

            ferry.CloseSession(PB.CloseSessionRequest(session_id=session), timeout=10)
            with self.assertRaises(grpc.RpcError) as error:
                ferry.GetInfo(PB.GetInfoRequest(session_id=session), timeout=10)
            self.assertEqual(error.exception.code(), grpc.StatusCode.NOT_FOUND)
            channel.close()
            self.assertEqual(daemon.stop(), 0)

    def test_an_upload_whose_client_went_silent_is_resumed(self):
        """resumable_transfers as the proto describes it: a stream that stops sending (its
        client's network changed) holds what arrived; a resume_query on another call stops
        it and says how much; an upload with resume_offset sends the rest."""
        import threading
        import time

        import grpc
        tmp = ferry_py.scratch_dir("ferryd-pyresume-")
        with ferry_py.ferryd(FERRYD, [], os.path.join(tmp, "stderr")) as daemon:
            channel = grpc.insecure_channel(daemon.address)
            ferry = PB_GRPC.FerryStub(channel)
            opened = ferry.OpenSession(PB.OpenSessionRequest(
                min_protocol_version=1, max_protocol_version=1, client_name="python"),
                timeout=10)
            self.assertIn("resumable_transfers", list(opened.features))
            session = opened.session_id
            x = np.arange(1 << 20, dtype=np.float32)  # 4 MiB
            data = x.tobytes()
            header = dict(session_id=session, buffer_id=3,
                          spec=ferry_py.spec(PB, PB.FLOAT32, x.shape), total_bytes=len(data))
            first_part = 1 << 20
            silent = threading.Event()

            def requests():
                yield PB.UploadRequest(data=data[:first_part], **header)
                silent.wait(60)  # sends nothing more, as a client whose network went away

            broken = ferry.Upload.future(requests(), timeout=60)
            time.sleep(2)  # the first message arrives (milliseconds, even on a loaded machine)
            query = PB.UploadRequest(resume_query=True, **header)
            kept = ferry.Upload(iter([query]), timeout=10)
            self.assertEqual(kept.bytes_received, first_part)
            with self.assertRaises(grpc.RpcError):
                broken.result(timeout=10)  # stopped by the query
            silent.set()

            rest = PB.UploadRequest(resume_offset=first_part, data=data[first_part:], **header)
            done = ferry.Upload(iter([rest]), timeout=30)
            self.assertEqual(done.bytes_received, len(data))
            np.testing.assert_array_equal(ferry_py.download_floats(PB, ferry, session, 3), x)
            # A download from part way: the rest, the first message still naming the total.
            tail = list(ferry.Download(PB.DownloadRequest(session_id=session, buffer_id=3,
                                                          offset=len(data) - 8), timeout=30))
            self.assertEqual(tail[0].total_bytes, len(data))
            self.assertEqual(tail[0].offset, len(data) - 8)
            self.assertEqual(np.frombuffer(b"".join(c.data for c in tail), "<f4").tolist(),
                             x[-2:].tolist())
            channel.close()
            self.assertEqual(daemon.stop(), 0)


    def test_a_second_session_gets_uploaded_bytes_from_the_upload_cache(self):
        """upload_cache as the proto describes it: the content digest computed here with
        hashlib alone; an upload naming it is kept once the daemon has checked it, and a
        cache_query from another session makes the buffer resident without its bytes."""
        import hashlib
        import time

        import grpc

        def content_digest(data):
            piece = 4 << 20
            outer = hashlib.sha256(b"ferry-content-1" + len(data).to_bytes(8, "little"))
            for at in range(0, len(data), piece):
                outer.update(hashlib.sha256(data[at:at + piece]).digest())
            return outer.digest()

        tmp = ferry_py.scratch_dir("ferryd-pycache-")
        with ferry_py.ferryd(FERRYD, [], os.path.join(tmp, "stderr")) as daemon:
            channel = grpc.insecure_channel(daemon.address)
            ferry = PB_GRPC.FerryStub(channel)

            def open_session():
                opened = ferry.OpenSession(PB.OpenSessionRequest(
                    min_protocol_version=1, max_protocol_version=1, client_name="python"),
                    timeout=10)
                self.assertIn("upload_cache", list(opened.features))
                return opened.session_id

            x = np.arange(9 << 18, dtype=np.float32)  # 9 MiB: three pieces, the last short
            data = x.tobytes()
            digest = content_digest(data)

            def header(session):
                return dict(session_id=session, buffer_id=7, total_bytes=len(data),
                            spec=ferry_py.spec(PB, PB.FLOAT32, x.shape), content_digest=digest)

            first = open_session()
            sent = ferry.Upload(iter([PB.UploadRequest(data=data, **header(first))]), timeout=30)
            self.assertEqual(sent.bytes_received, len(data))
            deadline = time.time() + 30
            while ferry.GetInfo(PB.GetInfoRequest(), timeout=10).upload_cache.entries < 1:
                self.assertLess(time.time(), deadline, "the upload was never kept")
                time.sleep(0.05)

            second = open_session()
            query = PB.UploadRequest(cache_query=True, **header(second))
            answer = ferry.Upload(iter([query]), timeout=10)
            self.assertEqual(answer.bytes_received, len(data))
            np.testing.assert_array_equal(ferry_py.download_floats(PB, ferry, second, 7), x)
            # Other bytes: a miss, and nothing resident under the id.
            other = dict(header(second), buffer_id=8, content_digest=content_digest(data[::-1]))
            missed = ferry.Upload(iter([PB.UploadRequest(cache_query=True, **other)]), timeout=10)
            self.assertEqual(missed.bytes_received, 0)
            info = ferry.GetInfo(PB.GetInfoRequest(), timeout=10).upload_cache
            self.assertEqual((info.hits, info.misses, info.rejected), (1, 1, 0))
            channel.close()
            self.assertEqual(daemon.stop(), 0)

    def test_a_buffer_offered_on_one_daemon_is_fetched_by_another(self):
        """peer_copy as the proto describes it: an offer step on the source's Pipeline stream,
        an upload step naming the source's bulk channel, session and ticket on the
        destination's; the destination fetches the bytes itself."""
        import queue

        import grpc
        tmp = ferry_py.scratch_dir("ferryd-pycopy-")

        def open_session(ferry):
            opened = ferry.OpenSession(PB.OpenSessionRequest(
                min_protocol_version=1, max_protocol_version=1, client_name="python"),
                timeout=10)
            self.assertIn("peer_copy", list(opened.features))
            return opened

        def pipeline(ferry, session):
            """Sends each step given to it; returns (send, next answer)."""
            steps = queue.Queue()

            def requests():
                while True:
                    step = steps.get()
                    if step is None:
                        return
                    yield step
            answers = ferry.Pipeline(requests(), timeout=60)
            steps.put(PB.PipelineRequest(start=PB.PipelineStart(session_id=session)))
            self.assertTrue(next(answers).HasField("started"))
            return steps.put, lambda: next(answers)

        with ferry_py.ferryd(FERRYD, [], os.path.join(tmp, "source")) as source, \
                ferry_py.ferryd(FERRYD, [], os.path.join(tmp, "destination")) as destination:
            source_channel = grpc.insecure_channel(source.address)
            destination_channel = grpc.insecure_channel(destination.address)
            from_ferry = PB_GRPC.FerryStub(source_channel)
            to_ferry = PB_GRPC.FerryStub(destination_channel)
            source_session = open_session(from_ferry)
            destination_session = open_session(to_ferry)

            x = np.linspace(-1, 1, 300000, dtype=np.float32)
            reply = from_ferry.Upload(ferry_py.upload_requests(
                PB, source_session.session_id, 5, x), timeout=30)
            self.assertEqual(reply.bytes_received, x.nbytes)

            ticket = os.urandom(16)
            send_source, next_source = pipeline(from_ferry, source_session.session_id)
            send_source(PB.PipelineRequest(step_id=1, want_reply=True, offer=PB.PipelineOffer(
                buffer_id=5, ticket=ticket)))
            self.assertFalse(next_source().HasField("failure"))

            bulk = "127.0.0.1:%d" % source_session.bulk_channel.port
            send_destination, next_destination = pipeline(to_ferry,
                                                          destination_session.session_id)
            upload = PB.PipelineUpload(buffer_id=9, tensor=PB.Tensor(
                spec=ferry_py.spec(PB, PB.FLOAT32, x.shape)), peer_source=PB.PeerSource(
                    address=bulk, session_id=source_session.session_id, ticket=ticket))
            send_destination(PB.PipelineRequest(step_id=1, want_reply=True, upload=upload))
            answer = next_destination()
            self.assertFalse(answer.HasField("failure"), answer.failure.message)
            # The ticket was for one fetch only.
            upload.buffer_id = 10
            send_destination(PB.PipelineRequest(step_id=2, want_reply=True, upload=upload))
            answer = next_destination()
            self.assertEqual(answer.failure.code, grpc.StatusCode.NOT_FOUND.value[0])
            self.assertIn("[copy] buffer 10", answer.failure.message)
            send_source(None)
            send_destination(None)

            np.testing.assert_array_equal(ferry_py.download_floats(
                PB, to_ferry, destination_session.session_id, 9), x)
            source_channel.close()
            destination_channel.close()
            self.assertEqual(source.stop(), 0)
            self.assertEqual(destination.stop(), 0)


if __name__ == "__main__":
    FERRYD = ferry_py.ferryd_path(sys.argv.pop(1))
    PB, PB_GRPC, HEALTH, HEALTH_GRPC = ferry_py.generate_stubs(ferry_py.scratch_dir("stubs-"))
    unittest.main(verbosity=2)

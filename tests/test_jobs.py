"""critic.jobs control flow with FAKE scripted engines (no model): the in-flight window, streaming writes, row errors vs
a dead engine, and the engines' failure classification that the jobs rely on."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from critic.engines.base import EngineDead, EngineError, Generation, RequestRejected, Sampling, check_generations
from critic.engines.fake import FakeScriptedEngine
from critic.io import JsonlWriter, read_jsonl
from critic.jobs import (
    DEFAULT_CAPACITY,
    SequenceWindow,
    WindowedEngine,
    engine_window,
    error_text,
    item_workers,
    run_sync,
    stream,
)

CHAT = [{"role": "user", "content": "hi"}]


class SlowFake(FakeScriptedEngine):
    """A FAKE engine whose requests stay in flight a while; counts sequences in flight."""

    def __init__(self, *args, delay: float = 0.002, **kw) -> None:
        super().__init__(*args, **kw)
        self.delay, self.in_flight, self.peak = delay, 0, 0

    async def agenerate(self, chat, sampling):
        self.in_flight += sampling.n
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return await super().agenerate(chat, sampling)
        finally:
            self.in_flight -= sampling.n


def test_window_sizes_follow_the_engine():
    engine = FakeScriptedEngine(["x"])
    assert engine_window(engine) == DEFAULT_CAPACITY + DEFAULT_CAPACITY // 4
    engine.max_in_flight = 128  # e.g. vLLM's max_num_seqs
    assert engine_window(engine) == 160
    engine.max_in_flight = 8
    assert engine_window(engine) == 12  # at least 4 in reserve
    assert item_workers(160, 8) == 21 and item_workers(10, 1) == 11


def test_the_window_bounds_sequences_and_keeps_the_engine_full():
    engine = SlowFake(["x"])
    view = WindowedEngine(engine, 24)

    async def main():
        # 40 requests of 4 samples and 20 of 1: never more than 24 sequences in flight, and the window fills up.
        await asyncio.gather(*(view.agenerate(CHAT, Sampling(n=4, temperature=1.0)) for _ in range(40)),
                             *(view.agenerate(CHAT, Sampling(n=1)) for _ in range(20)))

    run_sync(main())
    assert engine.peak <= 24 and view.window.peak == engine.peak
    assert engine.peak >= 20  # full: at least 24 minus a request of 4 that did not fit yet
    assert view.window.in_flight == 0


def test_waiting_requests_are_served_oldest_item_first():
    window = SequenceWindow(1)
    served = []

    async def request(order: int, tag: str):
        await window.acquire(1, order)
        served.append(tag)
        await asyncio.sleep(0)
        window.release(1)

    async def main():
        await window.acquire(1, 0)  # occupied: everything below queues
        waiting = ((5, "late"), (1, "early-1"), (3, "mid"), (1, "early-2"))
        tasks = [asyncio.create_task(request(order, tag)) for order, tag in waiting]
        await asyncio.sleep(0)
        window.release(1)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert served == ["early-1", "early-2", "mid", "late"]


def test_a_cancelled_waiter_gives_its_slots_back():
    window = SequenceWindow(2)

    async def main():
        await window.acquire(2)
        waiter = asyncio.create_task(window.acquire(2))
        await asyncio.sleep(0)
        waiter.cancel()
        window.release(2)
        await asyncio.gather(waiter, return_exceptions=True)
        assert window.in_flight == 0
        await asyncio.wait_for(window.acquire(2), 1)  # not blocked by the cancelled waiter

    asyncio.run(main())


def run_stream(tmp_path, items, process, workers=4):
    out = tmp_path / "rows.jsonl"
    seen = []
    with JsonlWriter(out) as writer:
        counts = run_sync(stream(items, process, writer, workers=workers,
                                 error_row=lambda item, exc: {"id": item, "error": error_text(exc)},
                                 on_row=seen.append))
    return counts, read_jsonl(out), seen


def test_row_faults_become_error_rows_and_the_stream_goes_on(tmp_path):
    async def process(item: int) -> dict:
        await asyncio.sleep(0.001 * (item % 3))
        if item % 4 == 0:
            raise RequestRejected(f"prompt {item} is longer than the model allows")
        if item == 5:
            raise KeyError("malformed row")
        return {"id": item, "error": None}

    counts, rows, seen = run_stream(tmp_path, range(12), process)
    assert sorted(r["id"] for r in rows) == list(range(12)) and seen == rows
    errors = {r["id"]: r["error"] for r in rows if r["error"]}
    assert set(errors) == {0, 4, 8, 5} and counts.errors == 4 and counts.written == 12
    assert errors[4] == "RequestRejected: prompt 4 is longer than the model allows"
    assert errors[5].startswith("KeyError")


def test_a_dead_engine_stops_the_stream_at_once_and_writes_nothing_in_flight(tmp_path):
    started, finished = [], []

    async def process(item: int) -> dict:
        started.append(item)
        if item == 6:
            await asyncio.sleep(0.01)
            raise EngineDead("engine core died")
        await asyncio.sleep(0.05 if item > 6 else 0.001)
        finished.append(item)
        return {"id": item, "error": None}

    with pytest.raises(EngineDead, match="engine core died"):
        run_stream(tmp_path, range(100), process, workers=4)
    rows = read_jsonl(tmp_path / "rows.jsonl")
    assert [r["id"] for r in rows] == sorted(finished) == [0, 1, 2, 3, 4, 5]
    assert max(started) < 12  # stopped at once: no new items after the death
    assert all(r["error"] is None for r in rows)  # never an error row for an engine failure


def test_check_generations_names_the_cause():
    ok = [Generation("x", 3, "stop"), Generation("y", 5, "length")]
    assert check_generations(ok) is ok
    with pytest.raises(RequestRejected, match="longer than"):
        check_generations([Generation("x"), Generation.rejected("prompt is longer than max_model_len 4096")])
    with pytest.raises(RequestRejected, match="no generation"):
        check_generations([])
    assert issubclass(EngineDead, EngineError) and issubclass(RequestRejected, EngineError)


# ---- the OpenAI engine's classification, against a small scripted HTTP server (control flow only) ---------------


class Scripted(BaseHTTPRequestHandler):
    status_for_chat = 200

    def log_message(self, *args):  # keep test output quiet
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200, {"data": [{"id": "scripted"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        status = type(self).status_for_chat
        if status == 200:
            self._send(200, {"choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
                             "usage": {"completion_tokens": 1}})
        else:
            self._send(status, {"error": {"message": f"scripted HTTP {status}"}})


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    Scripted.status_for_chat = 200


@pytest.mark.parametrize("status, outcome", [(400, "rejected"), (413, "rejected"), (422, "rejected"),
                                             (401, "dead"), (404, "dead"), (503, "dead"), (200, "ok")])
def test_openai_engine_tells_a_refused_request_from_a_dead_server(server, status, outcome):
    from critic.engines.openai_engine import OpenAIEngine

    engine = OpenAIEngine(f"http://127.0.0.1:{server.server_address[1]}", max_retries=1, backoff_s=0.01,
                          max_concurrency=7)
    try:
        assert engine.max_in_flight == 7
        Scripted.status_for_chat = status
        if outcome == "dead":
            with pytest.raises(EngineDead, match=f"HTTP {status}") as info:
                engine.generate([CHAT], Sampling(n=2, temperature=1.0))
            assert "\n" not in str(info.value)
            return
        out = engine.generate([CHAT], Sampling(n=1))[0]
        if outcome == "ok":
            assert out[0] == "ok" and out[0].finish_reason == "stop"
        else:
            assert out[0].finish_reason == "error" and f"HTTP {status}" in out[0].error
    finally:
        engine.close()


def test_openai_engine_unreachable_after_retries_is_dead():
    import socket

    from critic.engines.openai_engine import OpenAIEngine

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(EngineDead, match="cannot reach.*gave up after 2 attempts"):
        OpenAIEngine(f"http://127.0.0.1:{port}", max_retries=1, backoff_s=0.01)

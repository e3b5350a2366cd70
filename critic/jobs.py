"""How every long job runs (refine, eval error-id / refine / tts, train mc-label / seed): a bounded in-flight window
sized for the engine, results written as they finish, one failure semantics, one set of exit codes.

**Streaming.** :func:`stream` runs ``process(item)`` for many items at once on one event loop and writes each item's
row the moment it is done (:class:`~critic.io.JsonlWriter`: flushed, fsynced). There are no lockstep chunks: a slow
item never holds back the others. An item may send many requests (n samples, rollouts from every prefix, three
teacher stages); :class:`WindowedEngine` bounds the *sequences* in flight on an engine (a request with ``n`` samples
takes ``n`` slots) to :func:`engine_window` - the engine's own capacity (``max_in_flight``: vLLM's ``max_num_seqs``,
an OpenAI engine's ``max_concurrency``, two transformers micro-batches) plus a quarter, so a finished sequence's slot
is refilled from requests already queued in the engine rather than after a round trip through the job. Waiting
requests are served oldest item first, so items finish roughly in input order and few are half done at any time.

**Failures.** A failure of the item itself (malformed input, :class:`~critic.engines.base.RequestRejected` - e.g. a
prompt longer than the model allows -, anything else raised while processing it) becomes that item's *error row*,
written like any other row and final (``--retry-errors`` reruns it). :class:`~critic.engines.base.EngineDead` (engine
process died, server unreachable after its retries) stops the job at once: every other item in flight is cancelled
and not written, and the exception propagates; a rerun resumes exactly the unwritten items.

**Exit codes** (the same for ``deepcritic refine``, ``eval``, ``train`` and ``merge``): 0 every row done without error,
1 some rows ended as error rows (the summary says how many), 2 usage error (bad flag, config, input or engine option;
the output is held by another run), 3 engine or server failure (resumable: rerun the same command).
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import math
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from critic.engines.base import Chat, ChatEngine, EngineDead, Generation, Sampling
from critic.io import JsonlWriter, Row

T = TypeVar("T")

EXIT_OK = 0
EXIT_ROW_ERRORS = 1
EXIT_USAGE = 2
EXIT_ENGINE = 3

DEFAULT_CAPACITY = 64  # sequences, for an engine that does not say (e.g. a test double)

# The item a coroutine works for (its position in the job): waiting requests are served lowest first.
_item_order: contextvars.ContextVar[int] = contextvars.ContextVar("item_order", default=0)


def engine_capacity(engine: Any) -> int:
    """Sequences ``engine`` decodes at once (its ``max_in_flight``), or :data:`DEFAULT_CAPACITY`."""
    capacity = getattr(engine, "max_in_flight", None)
    return int(capacity) if isinstance(capacity, int) and capacity > 0 else DEFAULT_CAPACITY


def engine_window(engine: Any) -> int:
    """Default in-flight window (sequences) for ``engine``: its capacity plus a quarter (at least 4) in reserve."""
    capacity = engine_capacity(engine)
    return capacity + max(4, capacity // 4)


def engine_failure(prog: str, exc: BaseException) -> int:
    """Print the one line a job's command says when its engine or server failed; returns :data:`EXIT_ENGINE`."""
    import sys

    cause = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    print(f"{prog}: engine failure: {cause}; rows in flight were not written: rerun the same command to resume",
          file=sys.stderr)
    return EXIT_ENGINE


def error_text(exc: BaseException) -> str:
    """``Type: message`` on one line: what an error row says about its cause."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}"[:1000] if message else type(exc).__name__


class SequenceWindow:
    """A FIFO-by-priority weighted semaphore over sequences: ``slots(n)`` waits until ``n`` of ``capacity`` are free.

    Waiters are served lowest (item order, arrival) first and strictly in that order (a large request is never starved
    by small ones behind it). ``in_flight`` / ``peak`` count the slots taken (for benchmarks and tests).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"window capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.in_flight = 0
        self.peak = 0
        self._waiters: list[tuple[int, int, int, asyncio.Future]] = []
        self._arrivals = itertools.count()

    def _take(self, weight: int) -> None:
        self.in_flight += weight
        self.peak = max(self.peak, self.in_flight)

    def _wake(self) -> None:
        while self._waiters:
            _, _, weight, future = self._waiters[0]
            if future.done():  # cancelled while waiting
                heapq.heappop(self._waiters)
                continue
            if self.capacity - self.in_flight < weight:
                return
            heapq.heappop(self._waiters)
            self._take(weight)
            future.set_result(None)

    async def acquire(self, weight: int, order: int = 0) -> int:
        """Take ``min(weight, capacity)`` slots (returned) once the waiters before this one have theirs."""
        weight = max(1, min(weight, self.capacity))
        if not self._waiters and self.capacity - self.in_flight >= weight:
            self._take(weight)
            return weight
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (order, next(self._arrivals), weight, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted, then cancelled before use: give it back
                self.release(weight)
            raise
        return weight

    def release(self, weight: int) -> None:
        """Give back ``weight`` slots taken by :meth:`acquire` and wake the waiters that now fit."""
        self.in_flight -= weight
        self._wake()

    @asynccontextmanager
    async def slots(self, weight: int) -> AsyncIterator[None]:
        """Hold ``weight`` slots for the block (waiting, oldest item first, until they are free); released on exit,
        also on cancellation."""
        taken = await self.acquire(weight, _item_order.get())
        try:
            yield
        finally:
            self.release(taken)


class WindowedEngine:
    """A ChatEngine view of ``engine`` whose ``agenerate`` requests share one :class:`SequenceWindow` (a request
    with ``n`` samples takes ``n`` slots). ``generate`` and ``close`` go straight to the engine; closing the view
    does not close the engine."""

    def __init__(self, engine: ChatEngine, window: SequenceWindow | int | None = None) -> None:
        self.engine = engine
        self.name = engine.name
        if window is None:
            window = engine_window(engine)
        self.window = window if isinstance(window, SequenceWindow) else SequenceWindow(window)
        self.max_in_flight = self.window.capacity

    async def agenerate(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        """The engine's ``agenerate`` once ``sampling.n`` slots of the window are free."""
        async with self.window.slots(sampling.n):
            return await self.engine.agenerate(chat, sampling)

    def generate(self, chats: list[Chat], sampling: Sampling) -> list[list[Generation]]:
        """The engine's batch ``generate``, outside the window."""
        return self.engine.generate(chats, sampling)

    def close(self) -> None:
        """The view owns nothing."""


def windowed(engines: dict[str, ChatEngine], window: int | None = None) -> dict[str, WindowedEngine]:
    """One :class:`WindowedEngine` per distinct engine (roles on the same engine share its window); ``window``
    overrides every engine's default size."""
    views: dict[int, WindowedEngine] = {}
    out = {}
    for role, engine in engines.items():
        if id(engine) not in views:
            views[id(engine)] = WindowedEngine(engine, window)
        out[role] = views[id(engine)]
    return out


@dataclass
class StreamCounts:
    """What :func:`stream` did: rows written (error rows included), error rows written, seconds."""

    written: int = 0
    errors: int = 0
    seconds: float = 0.0


async def stream(
    items: Iterable[T],
    process: Callable[[T], Awaitable[Row]],
    writer: JsonlWriter,
    *,
    workers: int,
    error_row: Callable[[T, BaseException], Row],
    on_row: Callable[[Row], None] | None = None,
) -> StreamCounts:
    """Process ``items`` with at most ``workers`` in progress and write each row as it finishes (module docstring).

    ``process(item)`` returns the item's row; any exception but :class:`EngineDead` (and cancellation) becomes
    ``error_row(item, exc)``. ``on_row(row)`` sees every written row (progress bars, summaries). Raises the first
    :class:`EngineDead` after cancelling the items in flight (none of them is written).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    counts = StreamCounts()
    numbered = enumerate(items)  # one shared iterator: each item is taken by exactly one worker
    started = time.perf_counter()

    async def worker() -> None:
        for order, item in numbered:
            _item_order.set(order)
            try:
                row = await process(item)
                failed = False
            except EngineDead:
                raise
            except Exception as exc:  # the item's own failure: its final error row
                row, failed = error_row(item, exc), True
            writer.write(row)
            counts.written += 1
            counts.errors += failed
            if on_row is not None:
                on_row(row)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(worker())
    except BaseExceptionGroup as failures:
        dead = _first_of(failures, EngineDead)
        if dead is not None:
            raise dead from None
        raise
    finally:
        counts.seconds = time.perf_counter() - started
    return counts


def _first_of(group: BaseExceptionGroup, kind: type[BaseException]) -> BaseException | None:
    for exc in group.exceptions:
        if isinstance(exc, kind):
            return exc
        if isinstance(exc, BaseExceptionGroup) and (found := _first_of(exc, kind)) is not None:
            return found
    return None


def item_workers(window: int, per_item: int) -> int:
    """Items to keep in progress so that items sending about ``per_item`` sequences at a time fill ``window``."""
    return max(1, math.ceil(window / max(1, per_item)) + 1)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a job's coroutine to completion from synchronous code, also when the caller already runs an event loop
    (then on a fresh loop in a helper thread; the engines serve any loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller's thread below
            result["error"] = exc

    thread = threading.Thread(target=target, name="deepcritic-job")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def progress_bar(total: int, desc: str, unit: str, enabled: bool):
    """A tqdm bar (disabled when ``enabled`` is false)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True)

"""A private asyncio loop on a daemon thread, shared by the engines that are async inside.

Why: an engine's async resources (vLLM's AsyncLLM output handler, an httpx connection pool) belong to the loop that
created them. Running them on one loop the engine owns lets ``agenerate`` be awaited from *any* caller loop and lets
the synchronous ``generate`` block on a result whether or not the caller already runs an event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from critic.engines.base import Chat, Generation, Sampling

T = TypeVar("T")


class BackgroundLoop:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the private loop and block this thread until it finishes."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("BackgroundLoop.run called from its own loop thread (would deadlock)")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` (running on the private loop) from any other event loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


class LoopBackedEngine:
    """The ChatEngine surface of an engine whose requests are coroutines on its own :class:`BackgroundLoop`.

    Subclasses set ``self._loop`` and define ``async _one(chat, sampling)``: ``generate`` submits a whole list at once
    (the engine batches it), ``agenerate`` runs one request there and can be awaited from any caller's loop.
    """

    _loop: BackgroundLoop

    async def _one(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        raise NotImplementedError

    async def _many(self, chats: list[Chat], sampling: Sampling) -> list[list[Generation]]:
        return list(await asyncio.gather(*(self._one(chat, sampling) for chat in chats)))

    def generate(self, chats: list[Chat], sampling: Sampling) -> list[list[Generation]]:
        return self._loop.run(self._many(chats, sampling))

    async def agenerate(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        return await self._loop.arun(self._one(chat, sampling))

"""A scripted FAKE engine for unit tests of control flow and for overhead benchmarks. It runs no model.

It answers each chat with a callable ``script(chat, sampling, index) -> str`` (or cycles through a list of
canned replies). Never use it for an integration test, a benchmark of model speed, or a feature called done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from critic.engines.base import Chat, Generation, Sampling

Script = Callable[[Chat, Sampling, int], str]


class FakeScriptedEngine:
    """Deterministic fake: replies come from a script, token counts are whitespace word counts."""

    def __init__(self, script: Script | Sequence[str], name: str = "fake:scripted") -> None:
        self.name = name
        self.calls: list[Chat] = []  # every chat seen, in order, for assertions
        self.samplings: list[Sampling] = []  # the sampling each chat came with (same order as ``calls``)
        if callable(script):
            self._script = script
        else:
            replies = list(script)
            if not replies:
                raise ValueError("FakeScriptedEngine needs at least one reply")
            self._script = lambda chat, sampling, i: replies[i % len(replies)]

    def _one(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        index = len(self.calls)
        self.calls.append(chat)
        self.samplings.append(sampling)
        out = []
        for _ in range(sampling.n):
            text = self._script(chat, sampling, index)
            out.append(Generation(text, num_tokens=len(text.split()), finish_reason="stop"))
        return out

    def generate(self, chats: list[Chat], sampling: Sampling) -> list[list[Generation]]:
        """``sampling.n`` scripted texts per chat, in order (ChatEngine.generate)."""
        return [self._one(chat, sampling) for chat in chats]

    async def agenerate(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        """``sampling.n`` scripted texts for one chat (ChatEngine.agenerate)."""
        return self._one(chat, sampling)

    def close(self) -> None:
        """Nothing to release: the fake holds no model."""

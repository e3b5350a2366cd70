"""The engine contract every model backend implements.

A *chat* is a list of ``{"role", "content"}`` messages. When its last message has role ``assistant`` the engine
*continues* that message (assistant-prefix continuation) instead of starting a new reply: refinement and Monte-Carlo
rollouts depend on it. Returned texts are only the newly generated continuation, never the prefix.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

Message = dict[str, str]
Chat = list[Message]
FinishReason = Literal["stop", "length", "error"]


class Sampling(BaseModel):
    """Decoding settings, engine independent."""

    n: int = Field(1, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(512, ge=1)
    seed: int | None = None
    stop: list[str] | None = None
    # Structured output: a regular expression the whole generated text must match (vLLM: structured_outputs.regex;
    # OpenAI-compatible servers: the request's ``structured_outputs`` field; transformers: xgrammar's logits
    # processor). Written in the subset Python's ``re`` shares with the engines' dialects; see critic.guided.
    guided_regex: str | None = None

    @property
    def greedy(self) -> bool:
        """Temperature 0: greedy decoding, every one of the ``n`` samples is the same text."""
        return self.temperature == 0

    @property
    def distinct(self) -> int:
        """How many samples an engine decodes per chat: 1 when greedy (the ``n`` samples are identical, and vLLM
        rejects ``n > 1`` with greedy decoding), else ``n``."""
        return 1 if self.greedy else self.n

    @property
    def copies(self) -> int:
        """How many times each decoded sample is repeated to make ``n``: ``n`` when greedy, else 1."""
        return self.n if self.greedy else 1


class Generation(str):
    """One generated text. A ``str`` (so ``list[list[str]]`` callers just work) that also carries its token count
    and why it stopped (``length`` = hit ``max_tokens``, which the parser reports as ``truncated``; ``error`` = the
    engine refused this one request, and ``error`` then says why, e.g. "prompt is longer than the model allows")."""

    num_tokens: int
    finish_reason: FinishReason
    error: str | None

    def __new__(
        cls, text: str, num_tokens: int = 0, finish_reason: FinishReason = "stop", error: str | None = None
    ) -> Generation:
        obj = super().__new__(cls, text)
        obj.num_tokens = num_tokens
        obj.finish_reason = finish_reason
        obj.error = error if error is not None or finish_reason != "error" else "the engine refused the request"
        return obj

    @classmethod
    def rejected(cls, reason: str) -> Generation:
        """The answer to a request the engine refused (the request's own fault, e.g. a prompt that is too long)."""
        return cls("", num_tokens=0, finish_reason="error", error=" ".join(reason.split())[:500])


def is_continuation(chat: Chat) -> bool:
    """True when the chat ends with a partial assistant message the engine must continue."""
    return bool(chat) and chat[-1].get("role") == "assistant"


class EngineError(RuntimeError):
    """A clear, one-line engine failure (bad spec, missing model, bad engine option)."""


class EngineDead(EngineError):
    """The engine or server cannot serve *any* request any more: vLLM's engine core died, the server stayed
    unreachable (or kept timing out, or answered 5xx) through every retry, it refuses our credentials, or the
    transformers worker failed. Long jobs stop at once on it (exit code 3): rows in flight are not written, and a
    rerun of the same command resumes them. Never retried by the agent loop, never written as an error row."""


class RequestRejected(EngineError):
    """The engine refused *this one* request (prompt longer than the model allows, invalid parameters): the row's own
    fault. Long jobs write it as that row's final error row; retrying the same request would fail the same way."""


def check_generations(generations: list[Generation]) -> list[Generation]:
    """``generations`` unchanged, or :class:`RequestRejected` naming the cause when the engine refused the request
    (any generation with ``finish_reason == "error"``; an empty answer counts as refused too)."""
    if not generations:
        raise RequestRejected("the engine returned no generation")
    for generation in generations:
        if getattr(generation, "finish_reason", "stop") == "error":
            raise RequestRejected(getattr(generation, "error", None) or "the engine refused the request")
    return generations


@runtime_checkable
class ChatEngine(Protocol):
    """What the agent, training and eval code may rely on."""

    name: str  # the spec string that built it, for logs and reports
    # Optional: ``max_in_flight`` (int) = how many sequences the engine serves at once (vLLM: its scheduler's
    # ``max_num_seqs``; OpenAI: ``max_concurrency``; transformers: two micro-batches). Long jobs size their in-flight
    # window from it (critic.jobs.engine_window).

    def generate(self, chats: list[Chat], sampling: Sampling) -> list[list[Generation]]:
        """Batched: ``sampling.n`` generations per chat, in input order. A refused chat gets ``finish_reason="error"``
        generations; an engine fault raises :class:`EngineDead`."""
        ...

    async def agenerate(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        """One request; concurrent calls are batched inside the engine. Failures as in ``generate``."""
        ...

    def close(self) -> None:
        """Release the model (engine process, server connections); the engine is unusable afterwards."""
        ...

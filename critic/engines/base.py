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


class Generation(str):
    """One generated text. A ``str`` (so ``list[list[str]]`` callers just work) that also carries its token count
    and why it stopped (``length`` = hit ``max_tokens``, which the parser reports as ``truncated``)."""

    num_tokens: int
    finish_reason: FinishReason

    def __new__(cls, text: str, num_tokens: int = 0, finish_reason: FinishReason = "stop") -> "Generation":
        obj = super().__new__(cls, text)
        obj.num_tokens = num_tokens
        obj.finish_reason = finish_reason
        return obj


def is_continuation(chat: Chat) -> bool:
    """True when the chat ends with a partial assistant message the engine must continue."""
    return bool(chat) and chat[-1].get("role") == "assistant"


class EngineError(RuntimeError):
    """A clear, one-line engine failure (bad spec, missing model, unreachable server)."""


@runtime_checkable
class ChatEngine(Protocol):
    """What the agent, training and eval code may rely on."""

    name: str  # the spec string that built it, for logs and reports

    def generate(self, chats: list[Chat], sampling: Sampling) -> list[list[Generation]]:
        """Batched: ``sampling.n`` generations per chat, in input order."""
        ...

    async def agenerate(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        """One request; concurrent calls are batched inside the engine."""
        ...

    def close(self) -> None:
        """Release the model (engine process, server connections); the engine is unusable afterwards."""
        ...

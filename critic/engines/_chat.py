"""Helpers shared by the local engines: chat -> prompt token ids (with assistant-prefix continuation) and stop-string
trimming."""

from __future__ import annotations

from typing import Any

from critic.engines.base import Chat, RequestRejected, is_continuation


def render_prompt_ids(tokenizer: Any, chat: Chat) -> list[int]:
    """Token ids of the chat template for ``chat``. A trailing assistant message is continued (rendered open, no
    end-of-turn) instead of starting a new assistant turn. :class:`RequestRejected` for an empty chat."""
    if not chat:
        raise RequestRejected("empty chat: give at least one message")
    continuing = is_continuation(chat)
    ids = tokenizer.apply_chat_template(
        chat,
        tokenize=True,
        return_dict=False,
        add_generation_prompt=not continuing,
        continue_final_message=continuing,
    )
    return list(ids)


def cut_at_stop(text: str, stop: list[str] | None) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string (OpenAI semantics: the stop string is not returned)."""
    if not stop:
        return text, False
    hits = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    if not hits:
        return text, False
    return text[: min(hits)], True

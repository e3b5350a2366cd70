"""How an OpenAI-compatible server is made to *continue* an assistant message, and how that is checked.

Two ways exist, and a server may offer either, both or neither:

``chat-extension``
    ``POST /v1/chat/completions`` with ``continue_final_message: true, add_generation_prompt: false`` (vLLM's and
    SGLang's extension of the OpenAI schema): the server renders the chat template with the final assistant message
    left open and the model goes on from its last token.
``completions``
    The chat template is rendered *here* (``apply_chat_template(..., continue_final_message=True)`` with the served
    model's tokenizer) and the text goes to ``POST /v1/completions``, which every OpenAI-compatible server we know of
    (vLLM, SGLang, ``transformers serve``) still offers.

``none`` means neither works; the engine then refuses every continuation with one line saying why and what to pass.

The rule for trusting the chat extension (:func:`judge_chat_extension`). Answering HTTP 200 proves nothing: vLLM
accepts unknown fields with a warning, other servers may drop them silently, and a server that ignores them
closes the assistant message and starts a fresh reply. So the check does not rely on the model's text (a tiny model
continues badly, a chat model may carry on an earlier turn) but on the prompt length the server itself reports
(``usage.prompt_tokens``, which vLLM, SGLang, ``transformers serve`` and the OpenAI API return). Three probes with
``max_tokens=1``:

- ``p_new``: the user message alone with the usual generation prompt (this ends in the assistant header);
- ``p_1`` / ``p_2``: the same user message plus an assistant message ``S`` / ``S S`` (twice as many tokens), sent
  with the extension fields.

If the server continues, it renders exactly "generation prompt + S", so ``p_i = p_new + len(S_i)``. If it closes the
message and opens a new reply it adds a constant ``c >= 1`` (end of turn, a new assistant header). With
``l_i = p_i - p_new``, ``2 * l_1 - l_2 = c``: the extension is trusted only when that is exactly 0 and ``l_1 > 0``
(a server that drops the final message has ``l_1 = 0``). Every doubt (no usage reported, a template that adds tokens
around a final assistant message, a tokenizer that merges across the repeat) lands on the safe side: the engine
then renders the prompt itself for ``/v1/completions``, or says it cannot continue. The ``continuation`` engine
option overrides the detection where the user knows better.

The completions path is checked once too: a one-token probe must be answered, and where the server reports
``usage.prompt_tokens`` it must equal the local token count of the rendered prompt (a tokenizer that encodes the
text differently belongs to another model, whose chat template would make a silently wrong prompt).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from critic.engines.base import Chat, EngineError

ContinuationMode = Literal["chat-extension", "completions", "none"]
CONTINUATION_OPTIONS = ("auto", "chat-extension", "completions")
EXTENSION_FIELDS = {"continue_final_message": True, "add_generation_prompt": False}

# Probe chat: the prefill is a repeated common word, so S S is (almost surely) exactly twice the tokens of S.
PROBE_USER = "Repeat the word apple eight times."
PROBE_PREFILL = "apple apple apple apple"
PROBE_PREFILL_TWICE = f"{PROBE_PREFILL} {PROBE_PREFILL}"


def probe_chat(prefill: str | None) -> Chat:
    """The probe conversation: the user turn, plus an assistant ``prefill`` to continue when given."""
    chat: Chat = [{"role": "user", "content": PROBE_USER}]
    return chat + [{"role": "assistant", "content": prefill}] if prefill is not None else chat


def judge_chat_extension(p_new: int | None, p_1: int | None, p_2: int | None) -> tuple[bool, str]:
    """Whether the chat endpoint really continued the final assistant message (module docstring), with the reason.

    ``p_new``, ``p_1``, ``p_2``: ``usage.prompt_tokens`` of the three probes (None where the server did not say).
    """
    if p_new is None or p_1 is None or p_2 is None:
        return False, "its chat replies carry no usage.prompt_tokens, so a continuation cannot be verified"
    l_1, l_2 = p_1 - p_new, p_2 - p_new
    if l_1 <= 0:
        return False, "its chat endpoint dropped the final assistant message (the prompt did not grow)"
    extra = 2 * l_1 - l_2
    if extra != 0:
        return False, (f"its chat endpoint accepted continue_final_message but did not leave the assistant message "
                       f"open ({extra:+d} prompt tokens around it), so it would start a fresh reply")
    return True, "its chat endpoint continues the final assistant message (continue_final_message)"


# ---- client-side rendering ----------------------------------------------------------------------------------------


def _looks_like_path(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~", ".\\")) or "\\" in source or source.count("/") > 1


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def load_tokenizer(source: str) -> Any:
    """The tokenizer (with its chat template) of a model folder or hub id, for client-side rendering.

    A hub id is looked up in the local cache first and fetched only when ``HF_HUB_OFFLINE`` is not set. Raises
    :class:`EngineError` (one line) when it cannot be loaded or has no chat template. Imports transformers.
    """
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise EngineError(f"cannot load the tokenizer {source!r}: transformers is not installed ({exc})") from exc
    path = Path(source).expanduser()
    try:
        if path.is_dir():
            tokenizer = AutoTokenizer.from_pretrained(str(path))
        elif _looks_like_path(source):
            raise EngineError(f"tokenizer folder not found: {source}")
        else:
            try:
                tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            except (OSError, ValueError):
                if _hub_offline():
                    raise
                tokenizer = AutoTokenizer.from_pretrained(source)
    except EngineError:
        raise
    except Exception as exc:  # transformers raises OSError, ValueError, HTTP errors, ... for a bad source
        detail = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        where = " (HF_HUB_OFFLINE is set and it is not in the hub cache)" if _hub_offline() else ""
        raise EngineError(f"cannot load the tokenizer {source!r}{where}: {detail.strip()[:200]}") from exc
    if not getattr(tokenizer, "chat_template", None):
        raise EngineError(f"the tokenizer {source!r} has no chat template, so a chat cannot be rendered here")
    return tokenizer


def _adds_bos(tokenizer: Any) -> bool:
    """Whether encoding text (as a server does with a completions prompt) prepends the BOS token."""
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if bos_id is None:
        return False
    with_special = tokenizer("a").input_ids
    plain = tokenizer("a", add_special_tokens=False).input_ids
    return len(with_special) > len(plain) and with_special[0] == bos_id


def render_continuation(tokenizer: Any, chat: Chat) -> str:
    """The prompt text that continues ``chat``'s final assistant message, for ``/v1/completions``.

    The chat template is rendered with the final message left open (no end of turn, no new header). A leading BOS
    token is removed when the tokenizer adds one on encoding, since the server encodes the prompt the same way and
    would otherwise start it with two. Raises :class:`EngineError` when the template cannot render the chat.
    """
    try:
        text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=False,
                                             continue_final_message=True)
    except Exception as exc:  # jinja errors, "final message not found in the rendered text", ...
        raise EngineError(f"the chat template cannot continue this chat: {' '.join(str(exc).split())[:200]}") from exc
    bos = getattr(tokenizer, "bos_token", None)
    if bos and text.startswith(bos) and _adds_bos(tokenizer):
        text = text[len(bos):]
    return text


def prompt_token_count(tokenizer: Any, prompt: str) -> int:
    """Tokens of ``prompt`` encoded the way a server encodes a completions prompt (special tokens added)."""
    return len(tokenizer(prompt).input_ids)

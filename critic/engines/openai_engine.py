"""OpenAI-compatible HTTP engine (``vllm serve`` / ``python -m vllm.entrypoints.openai.api_server``, SGLang,
``transformers serve``, hosted APIs).

Requests go to ``POST {base_url}/chat/completions`` with bounded concurrency (a semaphore), timeouts and retries with
exponential backoff on connection errors, 408/409/429 and 5xx; any final failure is one :class:`EngineError` line.
Batching is the server's job: concurrent requests reach it concurrently.

Model: named in the spec (``openai:<url>#<model>``), it is used as given and ``/v1/models`` is never asked (some
servers answer it badly: ``transformers serve`` scans the hub cache and answers HTTP 500 where there is none).
Without a name the first model of ``GET /v1/models`` is used, and a failure there is one line saying to name one.

Continuation (a chat ending in an assistant message): detected once per engine, at the first continuation, and
recorded in :attr:`OpenAIEngine.continuation_mode` -- ``chat-extension`` (vLLM/SGLang ``continue_final_message``),
``completions`` (the chat template rendered here with the served model's tokenizer, sent to ``/v1/completions``)
or ``none`` (every continuation then fails with one line saying what to pass). The detection rule and why it does
not trust an HTTP 200 are in :mod:`critic.engines._continuation`. A continuation is never sent as a plain chat,
which a server would answer with a fresh reply.

Servers that ignore ``n`` (``transformers serve``) answer with one choice; the missing samples are then requested
one by one (seeds ``seed + i`` when seeded), and later requests fan out straight away. Stop strings are cut here as
well, for servers that return the stop string in the text.

Failures: a server that stays unreachable, keeps timing out or answers 408/409/429/5xx through every retry, or refuses
us for every request (401, 403, 404: credentials, URL or model name) raises :class:`EngineDead` - long jobs stop
(exit code 3) and resume on a rerun. Any other 4xx refuses *that* request (e.g. a prompt longer than the server's
context): it comes back as ``finish_reason="error"`` generations naming the cause, the row's own fault.

The HTTP client lives on a private event loop (see ``_loop.py``), so ``agenerate`` can be awaited from any loop and
the synchronous ``generate`` works whether or not the caller is inside a running event loop.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
from typing import Any

from critic.engines._chat import cut_at_stop
from critic.engines._continuation import (
    CONTINUATION_OPTIONS,
    EXTENSION_FIELDS,
    PROBE_PREFILL,
    PROBE_PREFILL_TWICE,
    ContinuationMode,
    judge_chat_extension,
    load_tokenizer,
    probe_chat,
    prompt_token_count,
    render_continuation,
)
from critic.engines._loop import BackgroundLoop, LoopBackedEngine
from critic.engines.base import (
    Chat,
    EngineDead,
    EngineError,
    FinishReason,
    Generation,
    RequestRejected,
    Sampling,
    is_continuation,
)

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
FATAL_STATUS = {401, 403, 404}  # every request would get the same answer (credentials, URL, model): the job stops


def _failure(kind: type[EngineError], message: str, status: int | None) -> EngineError:
    """An :class:`EngineDead` / :class:`RequestRejected` carrying the HTTP status that caused it (None: no answer)."""
    exc = kind(message)
    exc.status = status  # type: ignore[attr-defined]
    return exc


def _refused_here(exc: EngineError) -> bool:
    """A probe's failure that says "not this way" rather than "server down": the server answered the probe with a
    4xx other than 401/403/404, or with a 5xx (it had just answered a plain request, so it is up)."""
    status = getattr(exc, "status", None)
    return status is not None and status not in FATAL_STATUS


def _normalise_base_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def _finish_reason(reason: str | None) -> FinishReason:
    if reason == "length":
        return "length"
    return "stop" if reason in ("stop", "eos", "stop_sequence", None) else "error"


def _prompt_tokens(body: dict) -> int | None:
    value = (body.get("usage") or {}).get("prompt_tokens")
    return int(value) if isinstance(value, (int, float)) else None


def _chat_text(choice: dict) -> str:
    return (choice.get("message") or {}).get("content") or ""


def _completion_text(choice: dict) -> str:
    return choice.get("text") or ""


class OpenAIEngine(LoopBackedEngine):
    """ChatEngine over an OpenAI-compatible server (chat completions; completions for client-rendered continuations).

    Attributes after construction: ``model`` (the model name sent with every request), ``continuation_mode``
    (``None`` until the first continuation, then ``"chat-extension"``, ``"completions"`` or ``"none"``) and
    ``continuation_reason`` (one line: why that mode).
    """

    continuation_mode: ContinuationMode | None
    continuation_reason: str | None

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        name: str | None = None,
        api_key: str | None = None,
        max_concurrency: int = 64,
        timeout_s: float = 600.0,
        connect_timeout_s: float = 5.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        tokenizer: str | None = None,
        continuation: str = "auto",
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        """
        Args:
            base_url: the server's base URL, with or without the trailing ``/v1``.
            model: the model name the server expects (``transformers serve``: the model folder or hub id); None = the
                first of ``GET /v1/models``.
            name: the spec string, for logs and reports.
            api_key: bearer token; default ``$OPENAI_API_KEY`` when set.
            max_concurrency: requests in flight at once (also the connection pool size).
            timeout_s: seconds allowed for one request (reading the whole reply).
            connect_timeout_s: seconds allowed to open a connection.
            max_retries: extra attempts after a connection error, a timeout, 408/409/429 or 5xx.
            backoff_s: first retry delay in seconds, doubled per attempt (a ``Retry-After`` header wins).
            tokenizer: model folder or hub id whose tokenizer renders continuations for ``/v1/completions`` when the
                chat endpoint cannot continue; default: ``model`` (loaded lazily, from the hub cache first).
            continuation: ``auto`` (detect, see the module docstring), ``chat-extension`` or ``completions`` (trust
                that way without probing).
            extra_body: fields added to every POST body, for server-specific settings; the fields the engine sets
                itself win. E.g. ``transformers serve`` decodes greedily whatever the temperature unless the model's
                generation config samples: ``{"generation_config": "{\"do_sample\": true}"}`` makes it sample.

        Raises:
            EngineError: a bad option, or (no ``model`` given) the model list cannot be read or is empty.
        """
        import httpx

        if continuation not in CONTINUATION_OPTIONS:
            raise EngineError(f"continuation must be one of {', '.join(CONTINUATION_OPTIONS)}, got {continuation!r}")
        self._httpx = httpx
        self.base_url = _normalise_base_url(base_url)
        self.name = name or f"openai:{base_url}" + (f"#{model}" if model else "")
        self.max_concurrency = max_concurrency
        self.max_in_flight = max_concurrency  # long jobs size their in-flight window from it
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.tokenizer_source = tokenizer
        self.continuation = continuation
        self.extra_body = dict(extra_body or {})
        self.continuation_mode = None
        self.continuation_reason = None
        self._tokenizer: Any = None
        self._ignores_n = False  # set once the server answered n > 1 with fewer choices
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._loop = BackgroundLoop(name="openai-engine-loop")
        self._client = self._loop.run(self._make_client(headers))
        self._semaphore, self._detect_lock = self._loop.run(self._make_locks())
        if model is None:
            try:
                model = self._loop.run(self._first_model())
            except EngineError:
                self.close()
                raise
        self.model = model

    async def _make_client(self, headers: dict[str, str]) -> Any:
        return self._httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=self._timeout,
            limits=self._httpx.Limits(max_connections=self.max_concurrency),
        )

    async def _make_locks(self) -> tuple[asyncio.Semaphore, asyncio.Lock]:
        return asyncio.Semaphore(self.max_concurrency), asyncio.Lock()

    # ---- HTTP ---------------------------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, payload: dict | None = None) -> dict:
        """One HTTP call with retries. Final failures are one line: :class:`EngineDead` for the server (unreachable,
        timing out or failing through every retry, or refusing every request: 401/403/404), :class:`RequestRejected`
        for another 4xx aimed at this request; both carry ``status``, the HTTP code (None when nothing answered)."""
        httpx = self._httpx
        url = f"{self.base_url}{path}"
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            status: int | None = None
            try:
                async with self._semaphore:
                    body = None if payload is None else self.extra_body | payload
                    response = await self._client.request(method, path, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                problem = f"cannot reach {url} ({type(exc).__name__}: {exc or 'no detail'})"
            except httpx.TimeoutException as exc:
                problem = f"request to {url} timed out ({type(exc).__name__})"
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        not_json = EngineDead(f"{url} answered HTTP {response.status_code} with a body that is "
                                              f"not JSON: {' '.join(response.text.split())[:200]}")
                        not_json.answered = True  # type: ignore[attr-defined]
                        raise not_json from None
                status = response.status_code
                problem = f"{url} answered HTTP {status}: {_error_text(response)}"
                if status in FATAL_STATUS:
                    raise _failure(EngineDead, problem, status)
                if status not in RETRY_STATUS:
                    raise _failure(RequestRejected, problem, status)
                header = response.headers.get("retry-after", "")
                retry_after = float(header) if header.replace(".", "", 1).isdigit() else None
            if attempt == self.max_retries:
                raise _failure(EngineDead, f"{problem}; gave up after {attempt + 1} attempts", status)
            delay = retry_after if retry_after is not None else self.backoff_s * 2**attempt
            await asyncio.sleep(delay * (1 + 0.25 * random.random()))
        raise AssertionError("unreachable")

    async def _first_model(self) -> str:
        try:
            body = await self._request("GET", "/models")
        except EngineError as exc:  # the same kind (a dead server stays EngineDead), with what to do
            status = getattr(exc, "status", None)
            if status is None and not getattr(exc, "answered", False):  # nothing answered: a model name won't help
                raise _failure(type(exc), f"{exc}; is the server running at {self.base_url}, and is the URL right "
                               f"(scheme, host, port, /v1)?", None) from exc
            raise _failure(type(exc), f"cannot list the models of {self.base_url} ({exc}); name the model in the "
                           f"spec: openai:<base_url>#<model>", status) from exc
        models = [entry["id"] for entry in body.get("data", []) if isinstance(entry, dict) and "id" in entry]
        if not models:
            raise EngineError(f"server {self.base_url} lists no models; name one: openai:<base_url>#<model>")
        return models[0]

    # ---- requests -------------------------------------------------------------------------------------------------

    def _sampling_fields(self, sampling: Sampling) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "model": self.model,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            fields["seed"] = sampling.seed
        if sampling.stop:
            fields["stop"] = sampling.stop
        if sampling.guided_regex is not None:
            # vLLM's server field (chat and completions); a server that rejects unknown fields (transformers serve:
            # HTTP 422) fails with one line; one that ignores it answers free text (the critic loop notices).
            fields["structured_outputs"] = {"regex": sampling.guided_regex}
        return fields

    async def _one(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        if not chat:
            return [Generation.rejected("empty chat: give at least one message")] * sampling.n
        try:
            if is_continuation(chat) and await self._continuation() == "completions":
                prompt = render_continuation(self._tokenizer, chat)
                return await self._sample("/completions", {"prompt": prompt}, sampling, _completion_text)
            payload: dict[str, Any] = {"messages": chat}
            if is_continuation(chat):
                payload.update(EXTENSION_FIELDS)
            return await self._sample("/chat/completions", payload, sampling, _chat_text)
        except RequestRejected as exc:  # this request's own fault (e.g. longer than the server's context)
            field = self._refused_field(str(exc), sampling)
            if field is not None:  # a field sent with every request: every request would be refused alike
                hint = ("--critic-format guided needs a server with guided decoding (vllm serve); use "
                        "--critic-format free here" if field == "structured_outputs" else "drop it from extra_body")
                raise _failure(EngineDead, f"{exc} (the server does not take the request field {field!r}: {hint})",
                               getattr(exc, "status", None)) from exc
            return [Generation.rejected(str(exc))] * sampling.n

    def _refused_field(self, message: str, sampling: Sampling) -> str | None:
        """The field this engine sends with *every* such request (``extra_body`` keys, ``structured_outputs`` when
        guided) that the server's refusal ``message`` names, or None when the refusal is about this request only."""
        ours = set(self.extra_body) | ({"structured_outputs"} if sampling.guided_regex is not None else set())
        named = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", message))
        return next((field for field in sorted(ours) if field in named), None)

    async def _sample(self, path: str, payload: dict, sampling: Sampling, text_of: Any) -> list[Generation]:
        """``sampling.n`` generations from ``path``. Greedy decodes once and repeats it (identical samples; vLLM
        also rejects n > 1 with greedy); a server that ignores ``n`` gets the missing samples one by one."""
        want = sampling.distinct
        base = payload | self._sampling_fields(sampling)

        def single(i: int) -> dict:
            return base | ({"seed": sampling.seed + i} if sampling.seed is not None else {})

        if want > 1 and self._ignores_n:
            bodies = list(await asyncio.gather(*(self._request("POST", path, single(i)) for i in range(want))))
        else:
            bodies = [await self._request("POST", path, base | ({"n": want} if want > 1 else {}))]
            got = len(bodies[0].get("choices") or [])
            if 0 < got < want:
                self._ignores_n = True
                more = await asyncio.gather(*(self._request("POST", path, single(i)) for i in range(got, want)))
                bodies.extend(more)
        gens = [gen for body in bodies for gen in self._generations(body, text_of, sampling)]
        if len(gens) != want:
            raise EngineDead(f"{self.base_url}{path} returned {len(gens)} choices for n={want}")
        return gens * sampling.copies

    def _generations(self, body: dict, text_of: Any, sampling: Sampling) -> list[Generation]:
        choices = sorted(body.get("choices") or [], key=lambda c: c.get("index", 0))
        texts, reasons = [], []
        for choice in choices:
            text, stopped = cut_at_stop(text_of(choice), sampling.stop)
            texts.append(text)
            reasons.append("stop" if stopped else _finish_reason(choice.get("finish_reason")))
        total = int((body.get("usage") or {}).get("completion_tokens") or 0)
        counts = _token_counts(total, texts, reasons, sampling.max_tokens)
        return [Generation(text, num_tokens=count, finish_reason=reason)  # type: ignore[arg-type]
                for text, count, reason in zip(texts, counts, reasons)]

    # ---- continuation ---------------------------------------------------------------------------------------------

    def detect_continuation(self) -> ContinuationMode:
        """Run the continuation detection now (it otherwise runs at the first continuation) and return the mode.
        Blocking; never raises for ``none`` (the mode says it); raises :class:`EngineError` when the server fails."""
        return self._loop.run(self._detect_once())

    async def _detect_once(self) -> ContinuationMode:
        async with self._detect_lock:  # concurrent first continuations wait for one detection
            if self.continuation_mode is None:
                self.continuation_mode, self.continuation_reason = await self._detect()
            return self.continuation_mode

    async def _continuation(self) -> ContinuationMode:
        mode = self.continuation_mode or await self._detect_once()
        if mode == "none":
            # Every continuation would fail the same way: a fault of the server set-up, not of a row.
            raise EngineDead(self.continuation_reason or f"{self.name} cannot continue an assistant message")
        return mode

    async def _detect(self) -> tuple[ContinuationMode, str]:
        if self.continuation == "chat-extension":
            return "chat-extension", "continuation=chat-extension was given (not probed)"
        if self.continuation == "completions":
            self._tokenizer = await asyncio.to_thread(load_tokenizer, self._tokenizer_name())
            return "completions", "continuation=completions was given (not probed)"
        trusted, chat_reason = await self._probe_chat_extension()
        if trusted:
            return "chat-extension", chat_reason
        try:
            self._tokenizer = await asyncio.to_thread(load_tokenizer, self._tokenizer_name())
            ok, completions_reason = await self._probe_completions()
        except EngineError as exc:
            ok, completions_reason = False, str(exc)
        if ok:
            return "completions", f"{chat_reason}; {completions_reason}"
        return "none", (
            f"{self.name} cannot continue an assistant message: {chat_reason}; and for /v1/completions, "
            f"{completions_reason}. Pass the engine option tokenizer=<folder or hub id of the served model> (or "
            f"continuation=chat-extension if the server does continue)"
        )

    def _tokenizer_name(self) -> str:
        return self.tokenizer_source or self.model

    async def _probe_chat_extension(self) -> tuple[bool, str]:
        probe = {"model": self.model, "max_tokens": 1, "temperature": 0}
        # A plain request first: a failure here (bad model name, auth, server down) is not about continuation.
        plain = await self._request("POST", "/chat/completions", probe | {"messages": probe_chat(None)})
        try:
            once, twice = await asyncio.gather(*(
                self._request("POST", "/chat/completions", probe | EXTENSION_FIELDS | {"messages": probe_chat(s)})
                for s in (PROBE_PREFILL, PROBE_PREFILL_TWICE)
            ))
        except (RequestRejected, EngineDead) as exc:
            if not _refused_here(exc):
                raise
            return False, f"its chat endpoint rejected continue_final_message ({exc})"
        return judge_chat_extension(_prompt_tokens(plain), _prompt_tokens(once), _prompt_tokens(twice))

    async def _probe_completions(self) -> tuple[bool, str]:
        tokenizer, source = self._tokenizer, self._tokenizer_name()
        prompt = render_continuation(tokenizer, probe_chat(PROBE_PREFILL))
        try:
            body = await self._request("POST", "/completions",
                                       {"model": self.model, "prompt": prompt, "max_tokens": 1, "temperature": 0})
        except (RequestRejected, EngineDead) as exc:
            if not _refused_here(exc):
                raise
            return False, f"the server does not take a rendered prompt ({exc})"
        served = _prompt_tokens(body)
        local = await asyncio.to_thread(prompt_token_count, tokenizer, prompt)
        if served is not None and served != local:
            return False, (f"the tokenizer {source!r} encodes the rendered prompt as {local} tokens but the server "
                           f"counted {served}: it is not the served model's tokenizer")
        return True, f"rendering the chat template of {source!r} here for /v1/completions"

    def close(self) -> None:
        """Close the HTTP client (idempotent); the server keeps running."""
        client = getattr(self, "_client", None)
        if client is not None:
            self._loop.run(client.aclose())
            self._client = None
        self._loop.close()


def _error_text(response: Any) -> str:
    """The server's error message: OpenAI's ``{"error": {"message"}}``, FastAPI's ``{"detail"}`` or the raw body."""
    try:
        body = response.json()
    except ValueError:
        text = response.text
    else:
        message = body
        if isinstance(body, dict):
            message = body.get("error", body.get("detail", body))
        if isinstance(message, dict):
            message = message.get("message", message)
        text = str(message)
    return " ".join(text.split())[:300]


def _token_counts(total: int, texts: list[str], reasons: list[str], max_tokens: int) -> list[int]:
    """Per-choice completion tokens. The API reports one total per request: choices cut by ``length`` used exactly
    ``max_tokens``; the rest of the total is shared out by text length (exact for n = 1)."""
    if len(texts) == 1:
        return [total]
    counts = [max_tokens if reason == "length" else 0 for reason in reasons]
    others = [i for i, reason in enumerate(reasons) if reason != "length"]
    shares = _share(max(total - sum(counts), 0), [len(texts[i]) for i in others])
    for i, share in zip(others, shares):
        counts[i] = share
    return counts


def _share(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (equal shares if all are 0), summing to ``total``."""
    if not any(weights):
        weights = [1] * len(weights)
    weight_sum = sum(weights)
    raw = [total * w / weight_sum for w in weights]
    counts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)[: total - sum(counts)]:
        counts[i] += 1
    return counts

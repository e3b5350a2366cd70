"""OpenAI-compatible HTTP engine (``vllm serve`` / ``python -m vllm.entrypoints.openai.api_server``, SGLang, hosted
APIs).

Requests go to ``POST {base_url}/chat/completions`` with bounded concurrency (a semaphore), timeouts and retries with
exponential backoff on connection errors, 429 and 5xx. Batching is the server's job: concurrent requests reach it
concurrently. Assistant-prefix continuation sends vLLM's chat extensions ``continue_final_message: true,
add_generation_prompt: false``; a server without them would start a fresh reply instead.

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
from typing import Any

from critic.engines._loop import BackgroundLoop, LoopBackedEngine
from critic.engines.base import Chat, EngineDead, EngineError, Generation, RequestRejected, Sampling, is_continuation

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
FATAL_STATUS = {401, 403, 404}  # every request would get the same answer: the job stops


def _normalise_base_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def _finish_reason(reason: str | None) -> str:
    if reason == "length":
        return "length"
    return "stop" if reason in ("stop", "eos", "stop_sequence", None) else "error"


class OpenAIEngine(LoopBackedEngine):
    """ChatEngine over an OpenAI-compatible chat-completions endpoint."""

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
    ) -> None:
        import httpx

        self._httpx = httpx
        self.base_url = _normalise_base_url(base_url)
        self.name = name or f"openai:{base_url}" + (f"#{model}" if model else "")
        self.max_concurrency = max_concurrency
        self.max_in_flight = max_concurrency  # long jobs size their in-flight window from it
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._loop = BackgroundLoop(name="openai-engine-loop")
        self._client = self._loop.run(self._make_client(headers))
        self._semaphore = self._loop.run(self._make_semaphore())
        try:
            models = self._loop.run(self._list_models())
        except EngineError:
            self.close()
            raise
        if model is None:
            if not models:
                self.close()
                raise EngineError(f"server {self.base_url} lists no models; name one: openai:<base_url>#<model>")
            model = models[0]
        self.model = model

    async def _make_client(self, headers: dict[str, str]) -> Any:
        return self._httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=self._timeout,
            limits=self._httpx.Limits(max_connections=self.max_concurrency),
        )

    async def _make_semaphore(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(self.max_concurrency)

    async def _request(self, method: str, path: str, payload: dict | None = None) -> dict:
        """One HTTP call with retries. Final failures are one line: :class:`EngineDead` for the server,
        :class:`RequestRejected` for a 4xx aimed at this request."""
        httpx = self._httpx
        url = f"{self.base_url}{path}"
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                response = await self._client.request(method, path, json=payload)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                problem = f"cannot reach {url} ({type(exc).__name__}: {exc or 'no detail'})"
            except httpx.TimeoutException as exc:
                problem = f"request to {url} timed out ({type(exc).__name__})"
            else:
                if response.status_code < 400:
                    return response.json()
                problem = f"{url} answered HTTP {response.status_code}: {_error_text(response)}"
                if response.status_code in FATAL_STATUS:
                    raise EngineDead(problem)
                if response.status_code not in RETRY_STATUS:
                    raise RequestRejected(problem)
                header = response.headers.get("retry-after", "")
                retry_after = float(header) if header.replace(".", "", 1).isdigit() else None
            if attempt == self.max_retries:
                raise EngineDead(f"{problem}; gave up after {attempt + 1} attempts")
            delay = retry_after if retry_after is not None else self.backoff_s * 2**attempt
            await asyncio.sleep(delay * (1 + 0.25 * random.random()))
        raise AssertionError("unreachable")

    async def _list_models(self) -> list[str]:
        body = await self._request("GET", "/models")
        return [entry["id"] for entry in body.get("data", []) if "id" in entry]

    def _payload(self, chat: Chat, sampling: Sampling) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": chat,
            # vLLM rejects n > 1 with greedy decoding; greedy samples are identical, so _one repeats a single one.
            "n": 1 if sampling.temperature == 0 else sampling.n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            payload["seed"] = sampling.seed
        if sampling.stop:
            payload["stop"] = sampling.stop
        if is_continuation(chat):
            payload.update(continue_final_message=True, add_generation_prompt=False)
        return payload

    async def _one(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        if not chat:
            return [Generation.rejected("empty chat: give at least one message")] * sampling.n
        try:
            async with self._semaphore:
                body = await self._request("POST", "/chat/completions", self._payload(chat, sampling))
        except RequestRejected as exc:
            return [Generation.rejected(str(exc))] * sampling.n
        choices = sorted(body.get("choices", []), key=lambda c: c.get("index", 0))
        texts = [(c.get("message") or {}).get("content") or "" for c in choices]
        reasons = [_finish_reason(c.get("finish_reason")) for c in choices]
        total = int((body.get("usage") or {}).get("completion_tokens") or 0)
        gens = [
            Generation(text, num_tokens=count, finish_reason=reason)
            for text, count, reason in zip(texts, _token_counts(total, texts, reasons, sampling.max_tokens), reasons)
        ]
        if sampling.temperature == 0:
            gens = gens[:1] * sampling.n
        if len(gens) != sampling.n:
            raise EngineDead(f"{self.base_url} returned {len(gens)} choices for n={sampling.n}")
        return gens

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            self._loop.run(client.aclose())
            self._client = None
        self._loop.close()


def _error_text(response: Any) -> str:
    try:
        body = response.json()
        message = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(message, dict):
            message = message.get("message", message)
        text = str(message)
    except ValueError:
        text = response.text
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

"""In-process vLLM engine.

One vLLM ``AsyncLLM`` serves both paths: ``agenerate`` requests join vLLM's continuous batch as they arrive (no
waiting for a micro-batch to fill or drain), and ``generate`` submits a whole list at once. The AsyncLLM lives on a
private event loop (see ``_loop.py``), so either path works from any thread or event loop.

CPU defaults (measured on a 2-core AVX2 machine, DESIGN.md section 6): float32 (bf16 is emulated and ~5x slower),
eager mode (graph compilation costs minutes per start and did not pay off), no reserved core, a small KV cache and
context. On GPUs vLLM's own defaults apply. vLLM runs its engine core in a child process; scripts that build this
engine should keep their top-level code under ``if __name__ == "__main__":`` (required if vLLM has to ``spawn``).
"""

from __future__ import annotations

import atexit
import logging
import os
import uuid
from typing import Any

from critic.engines._chat import render_prompt_ids
from critic.engines._loop import BackgroundLoop, LoopBackedEngine
from critic.engines.base import Chat, EngineError, Generation, Sampling

log = logging.getLogger(__name__)

# Environment defaults applied before vLLM is imported; an explicit user setting always wins.
CPU_ENV_DEFAULTS = {
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",  # else vLLM keeps one of two cores idle for its frontend
    "VLLM_CPU_KVCACHE_SPACE": "2",  # GiB; the default (4) is wasted on a 135M model with 4K context
}
COMMON_ENV_DEFAULTS = {
    "VLLM_LOGGING_LEVEL": "ERROR",  # its start-up warnings are about CPU tuning we already chose
    "VLLM_CONFIGURE_LOGGING": "1",
}
CPU_ENGINE_DEFAULTS: dict[str, Any] = {"dtype": "float32", "enforce_eager": True, "max_model_len": 4096}


def _gpu_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _finish_reason(reason: str | None) -> str:
    if reason in ("stop", "length"):
        return reason
    return "error"


class VllmEngine(LoopBackedEngine):
    """ChatEngine backed by an in-process ``vllm.v1.engine.async_llm.AsyncLLM``."""

    def __init__(self, model: str, *, name: str | None = None, seed: int = 0, **engine_kwargs: Any) -> None:
        self.name = name or f"vllm:{model}"
        self.model = model
        on_gpu = _gpu_available()
        for key, value in {**COMMON_ENV_DEFAULTS, **({} if on_gpu else CPU_ENV_DEFAULTS)}.items():
            os.environ.setdefault(key, value)
        try:
            from vllm import SamplingParams
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.exceptions import VLLMClientError
            from vllm.inputs.engine import tokens_input
            from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as exc:
            raise EngineError(f"vLLM is not installed ({exc}); use an 'hf:' spec or install the cpu/gpu extra") from exc
        self._SamplingParams = SamplingParams
        self._StructuredOutputsParams = StructuredOutputsParams
        self._tokens_input = tokens_input
        self._final_only = RequestOutputKind.FINAL_ONLY
        self._request_errors = (ValueError, VLLMClientError)

        kwargs = dict(engine_kwargs)
        if not on_gpu:
            for key, value in CPU_ENGINE_DEFAULTS.items():
                kwargs.setdefault(key, value)
        kwargs.setdefault("disable_log_stats", True)
        try:
            engine_args = AsyncEngineArgs(model=model, seed=seed, **kwargs)
        except TypeError as exc:
            raise EngineError(f"bad vLLM engine option: {exc}") from exc

        self._loop = BackgroundLoop(name="vllm-engine-loop")
        # vLLM's CPU platform sets LD_PRELOAD (tcmalloc, libgomp) for its engine process; keep that out of every
        # other subprocess this program starts later.
        ld_preload = os.environ.get("LD_PRELOAD")
        try:
            self._llm = self._loop.run(self._start(AsyncLLM, engine_args))
        except Exception as exc:
            self._loop.close()
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise EngineError(f"vLLM could not load {model!r}: {detail}") from exc
        finally:
            if ld_preload is None:
                os.environ.pop("LD_PRELOAD", None)
            else:
                os.environ["LD_PRELOAD"] = ld_preload
        # vLLM registers weakref finalizers that kill the engine core at exit; atexit runs hooks last-in first-out,
        # so registering here (after them) stops the output handler first and the exit stays quiet.
        atexit.register(self.close)
        self._tokenizer = self._llm.get_tokenizer()
        self.max_model_len = self._llm.model_config.max_model_len

    @staticmethod
    async def _start(async_llm_cls: Any, engine_args: Any) -> Any:
        # Built inside the private loop so its output handler task belongs to that loop.
        return async_llm_cls.from_engine_args(engine_args)

    def _params(self, sampling: Sampling) -> tuple[Any, int]:
        """vLLM params plus how many copies of each output to return. vLLM rejects n > 1 with greedy decoding;
        greedy samples are identical, so one is generated and repeated."""
        greedy = sampling.temperature == 0
        params = self._SamplingParams(
            n=1 if greedy else sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            seed=sampling.seed,
            stop=sampling.stop,
            output_kind=self._final_only,
            structured_outputs=(None if sampling.guided_regex is None
                                else self._StructuredOutputsParams(regex=sampling.guided_regex)),
        )
        return params, (sampling.n if greedy else 1)

    async def _one(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        prompt_ids = render_prompt_ids(self._tokenizer, chat)
        params, copies = self._params(sampling)
        final = None
        try:
            async for output in self._llm.generate(
                self._tokens_input(prompt_ids), params, request_id=uuid.uuid4().hex
            ):
                final = output
        except self._request_errors as exc:  # a per-request rejection, e.g. prompt longer than max_model_len
            log.warning("vLLM rejected a request (%s); returning finish_reason='error'", exc)
            return [Generation("", num_tokens=0, finish_reason="error") for _ in range(sampling.n)]
        if final is None:
            raise EngineError("vLLM returned no output for a request")
        gens = [
            Generation(c.text, num_tokens=len(c.token_ids), finish_reason=_finish_reason(c.finish_reason))
            for c in final.outputs
        ]
        return [g for g in gens for _ in range(copies)]

    def close(self) -> None:
        """Stop the engine core process and the private loop. The engine is unusable afterwards."""
        llm = getattr(self, "_llm", None)
        if llm is not None:
            self._loop.run(self._shutdown(llm))
            self._llm = None
        self._loop.close()

    @staticmethod
    async def _shutdown(llm: Any) -> None:
        import asyncio

        # Stop the output handler first: killing the engine core under it makes it log an EngineDeadError.
        handler = getattr(llm, "output_handler", None)
        if handler is not None:
            handler.cancel()
            await asyncio.gather(handler, return_exceptions=True)
        llm.shutdown()
        import multiprocessing

        multiprocessing.active_children()  # reap the stopped engine-core process (else it lingers as a zombie)

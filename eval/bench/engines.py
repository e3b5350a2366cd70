"""Engine benchmark on the embedded model: start time and decode throughput of each engine.

For each engine (in-process vLLM, transformers, and the OpenAI-compatible client talking to a vLLM server) it
measures, each in a fresh process so nothing is shared or pre-warmed:

- start, cold: empty model cache, so the GGUF conversion is included (what the very first run pays);
- start, warm: model folder cached (every later run; this is the main job's start-up cost);
- decode tok/s at batch 1 (one request) and batch 16 (16 concurrent ``agenerate`` calls, batched by the engine).

Engines run one after another, never side by side. Run: ``python -m eval.bench.engines``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MARK = "BENCH-RESULT "
MAX_TOKENS = 128
PROMPTS = [
    f"Write a long, detailed story about a {animal} who learns {skill}. Use many paragraphs."
    for animal in ("cat", "fox", "owl", "whale")
    for skill in ("algebra", "to sail", "to bake bread", "chess")
]  # 16 different prompts, so batch 16 is 16 real sequences


def _measure(engine, started: float) -> dict:
    """Start time (given) and tok/s at batch 1 and 16 for a built engine."""
    import asyncio

    from critic.engines import Sampling

    chats = [[{"role": "user", "content": p}] for p in PROMPTS]
    sampling = Sampling(max_tokens=MAX_TOKENS)
    engine.generate(chats[:1], Sampling(max_tokens=4))  # first request pays one-off set-up
    start_s = time.perf_counter() - started

    t = time.perf_counter()
    one = engine.generate(chats[:1], sampling)[0][0]
    batch1 = one.num_tokens / (time.perf_counter() - t)

    async def concurrent():
        return await asyncio.gather(*(engine.agenerate(chat, sampling) for chat in chats))

    t = time.perf_counter()
    results = asyncio.run(concurrent())
    batch16 = sum(r[0].num_tokens for r in results) / (time.perf_counter() - t)
    return {"start_s": start_s, "batch1": batch1, "batch16": batch16}


def _worker(kind: str, base_url: str = "") -> None:
    """Child process: build one engine from nothing, measure, print one JSON line."""
    started = time.perf_counter()
    from critic.embedded import embedded_model_dir

    model = str(embedded_model_dir())
    if kind == "vllm":
        from critic.engines.vllm_engine import VllmEngine

        engine = VllmEngine(model)
    elif kind == "hf":
        from critic.engines.hf_engine import HFEngine

        engine = HFEngine(model)
    else:
        from critic.engines.openai_engine import OpenAIEngine

        engine = OpenAIEngine(base_url)
    result = _measure(engine, started)
    engine.close()
    print(MARK + json.dumps(result), flush=True)


def _run_child(kind: str, cache: str, base_url: str = "") -> dict:
    code = f"from eval.bench.engines import _worker; _worker({kind!r}, {base_url!r})"
    env = dict(os.environ, DEEPCRITIC_CACHE=cache, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    raise RuntimeError(f"{kind} benchmark failed (exit {proc.returncode}): {proc.stderr[-1500:]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _convert(cache: str) -> float:
    """Convert the embedded model into ``cache`` in a fresh process; seconds taken."""
    code = "from critic.embedded import embedded_model_dir; embedded_model_dir()"
    env = dict(os.environ, DEEPCRITIC_CACHE=cache, HF_HUB_OFFLINE="1")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env, cwd=REPO)
    return time.perf_counter() - started


SERVER_START_TIMEOUT_S = 900  # a wedged server must not hang the benchmark (a normal start here takes ~40 s)


def _with_server(cache: str) -> dict:
    """Start a vLLM OpenAI-compatible server (timed to healthy + first answer), measure through the client."""
    import httpx

    from critic.embedded import FOLDER_NAME

    started = time.perf_counter()
    _convert(cache)  # a no-op on a warm cache
    model = str(Path(cache) / FOLDER_NAME)
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", VLLM_CPU_NUM_OF_RESERVED_CPU="0", VLLM_CPU_KVCACHE_SPACE="2")
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--dtype", "float32",
               "--enforce-eager", "--max-model-len", "4096", "--no-enable-chunked-prefill", "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                              start_new_session=True)  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    deadline = started + SERVER_START_TIMEOUT_S
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {server.returncode}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"vLLM server not healthy after {SERVER_START_TIMEOUT_S} s")
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        from critic.engines.openai_engine import OpenAIEngine

        engine = OpenAIEngine(base_url)
        result = _measure(engine, started)
        engine.close()
        return result
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)


def main() -> None:
    from critic.embedded import cache_dir

    label = {"vllm": "vLLM in-process", "hf": "transformers", "openai": "openai -> vLLM server"}
    user_cache = str(cache_dir())
    with tempfile.TemporaryDirectory(prefix="deepcritic-bench-") as empty:
        conversion_s = _convert(empty)
    _convert(user_cache)  # no-op when cached; the warm runs need the folder there
    print(f"Engines on the embedded model (SmolLM2-135M fp32), {os.cpu_count()} CPUs, max_tokens={MAX_TOKENS}")
    print(f"GGUF -> model folder conversion (first run only): {conversion_s:.1f} s")
    print()
    print("| engine | start cold (s) | start warm (s) | tok/s batch 1 | tok/s batch 16 | batch16 / batch1 |")
    print("|---|---:|---:|---:|---:|---:|", flush=True)
    for kind in ("vllm", "hf", "openai"):  # one engine at a time; rows print as they are measured
        with tempfile.TemporaryDirectory(prefix="deepcritic-bench-") as empty:
            cold = _with_server(empty) if kind == "openai" else _run_child(kind, empty)
        warm = _with_server(user_cache) if kind == "openai" else _run_child(kind, user_cache)
        b1, b16 = warm["batch1"], warm["batch16"]
        print(f"| {label[kind]} | {cold['start_s']:.1f} | {warm['start_s']:.1f} | {b1:.1f} | {b16:.1f} "
              f"| {b16 / b1:.1f}x |", flush=True)  # fmt: skip
    print()
    print("start = fresh process to first answer (imports, model load, engine start; cold adds the conversion);")
    print("targets: warm start of the main job <= 60 s, batch-16 decode >= 100 tok/s.")


if __name__ == "__main__":
    main()

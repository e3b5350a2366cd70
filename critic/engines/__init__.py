"""Model engines behind one contract (:class:`ChatEngine`). Build them with ``get_engine(spec)``.

Spec grammar::

    embedded                     the embedded SmolLM2-135M-Instruct via vLLM (transformers when vLLM is missing)
    vllm:embedded | hf:embedded  the embedded model on a chosen backend
    vllm:<folder or hub id>      in-process vLLM
    hf:<folder or hub id>        transformers ``generate``
    openai:<base_url>[#<model>]  any OpenAI-compatible server; model defaults to the first of GET /v1/models

Engines are cached: the same spec (and options) gives the same object for the whole process, so the generator and
critic roles share one model. Importing this package imports no torch or vLLM; engines import them when built.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

from critic.engines.base import (
    Chat,
    ChatEngine,
    EngineDead,
    EngineError,
    Generation,
    Message,
    RequestRejected,
    Sampling,
    check_generations,
    is_continuation,
)

__all__ = [
    "ChatEngine",
    "Chat",
    "EngineDead",
    "EngineError",
    "Generation",
    "RequestRejected",
    "check_generations",
    "Message",
    "Sampling",
    "is_continuation",
    "get_engine",
    "parse_spec",
    "resolve_model",
    "close_engines",
    "SPEC_HELP",
]

SPEC_HELP = "embedded, vllm:<folder|hub id|embedded>, hf:<folder|hub id|embedded>, openai:<base_url>[#<model>]"

_engines: dict[tuple[str, str, tuple], ChatEngine] = {}
_lock = threading.Lock()


def vllm_available() -> bool:
    """True when the vllm package is installed (looked up, not imported): ``embedded`` then means vLLM, else
    transformers."""
    return importlib.util.find_spec("vllm") is not None


def parse_spec(spec: str) -> tuple[str, str]:
    """Split a spec into (backend, target): backend in {"vllm", "hf", "openai"}; target is "embedded", a model
    folder or hub id, or ``base_url#model`` for openai. Raises EngineError on anything else."""
    spec = spec.strip()
    if spec == "embedded":
        return ("vllm" if vllm_available() else "hf"), "embedded"
    backend, sep, target = spec.partition(":")
    if not sep or backend not in ("vllm", "hf", "openai") or not target.strip():
        raise EngineError(f"unknown engine spec {spec!r}; expected one of: {SPEC_HELP}")
    target = target.strip()
    if backend == "openai" and not target.startswith(("http://", "https://")):
        raise EngineError(f"engine spec {spec!r}: openai needs a base URL, e.g. openai:http://127.0.0.1:8000/v1#model")
    return backend, target


def _looks_local(target: str) -> bool:
    """A path rather than a hub id ("org/name" or "name"): absolute, relative with ./ or ../, ~, or deeper than one
    slash."""
    return target.startswith(("/", "./", "../", "~", ".\\")) or "\\" in target or target.count("/") > 1


def resolve_model(target: str) -> str:
    """Model folder (or hub id) for a vllm:/hf: target. Never reaches a hub for "embedded" or a local folder."""
    if target == "embedded":
        from critic.embedded import resolve_embedded

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the embedded model is fully local; never look at a hub
        return resolve_embedded(target)
    path = Path(target).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise EngineError(f"model folder {target!r} has no config.json (not a transformers model folder)")
        return str(path.resolve())
    if _looks_local(target):
        raise EngineError(f"model folder not found: {target}")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(target, "config.json"), str):
            raise EngineError(
                f"model {target!r} is neither a local folder nor in the hub cache, and HF_HUB_OFFLINE is set"
            )
    return target


def _build(spec: str, backend: str, target: str, options: dict[str, Any]) -> ChatEngine:
    if backend == "openai":
        from critic.engines.openai_engine import OpenAIEngine

        base_url, _, model = target.partition("#")
        return OpenAIEngine(base_url, model or None, name=spec, **options)
    model = resolve_model(target)
    if backend == "vllm":
        from critic.engines.vllm_engine import VllmEngine

        return VllmEngine(model, name=spec, **options)
    from critic.engines.hf_engine import HFEngine

    return HFEngine(model, name=spec, **options)


def get_engine(spec: str = "embedded", **options: Any) -> ChatEngine:
    """The engine for ``spec`` (see the module docstring), built on first use and reused afterwards. ``options`` go
    to the engine constructor (e.g. ``max_model_len=2048`` for vLLM, ``max_concurrency=8`` for openai) and are part
    of the cache key."""
    backend, target = parse_spec(spec)
    key = (backend, target, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _lock:  # one build at a time: a second caller for the same spec waits and gets the same engine
        engine = _engines.get(key)
        if engine is None:
            engine = _build(spec, backend, target, options)
            _engines[key] = engine
        return engine


def close_engines() -> None:
    """Close every cached engine (stops vLLM engine processes, HTTP pools, worker threads) and forget them."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        close = getattr(engine, "close", None)
        if close is not None:
            close()


atexit.register(close_engines)

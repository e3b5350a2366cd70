"""Engine options per role (``--generator-args``, ``--critic-args``, ``--teacher-args``; ``engine_args`` in configs).

An option set is a mapping of keyword arguments for the engine a spec builds:

- ``vllm:`` (and ``embedded`` where vLLM is installed): any field of vLLM's ``AsyncEngineArgs``
  (``tensor_parallel_size``, ``data_parallel_size``, ``gpu_memory_utilization``, ``max_model_len``,
  ``enable_prefix_caching``, ``quantization``, ``max_num_seqs``, ...) plus ``seed``;
- ``openai:``: ``max_concurrency``, ``timeout_s``, ``connect_timeout_s``, ``max_retries``, ``backoff_s``, ``api_key``;
- ``hf:``: ``dtype``, ``device``, ``max_batch_size``, ``batch_wait_s``, ``num_threads``.

On the command line an option set is JSON (``'{"tensor_parallel_size": 4}'``) or ``key=value`` items, repeatable;
values are read as YAML scalars (``4`` is an int, ``true`` a bool, ``0.9`` a float, ``[1, 2]`` a list) and dashes in
keys become underscores. An unknown option is one :class:`EngineError` line naming it (and the closest known one).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
from collections.abc import Iterable, Mapping
from typing import Any

from critic.engines.base import EngineError

EngineArgs = dict[str, Any]


def parse_engine_args(items: Iterable[str] | None) -> EngineArgs:
    """``["tensor_parallel_size=4", "enable-prefix-caching=true"]`` or ``['{"max_model_len": 8192}']`` -> a dict.

    Raises ValueError (one line) on an item that is neither a JSON object nor ``key=value``.
    """
    import yaml

    out: EngineArgs = {}
    for item in items or []:
        text = item.strip()
        if text.startswith("{"):
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"engine options {text!r}: invalid JSON ({e.msg})") from e
            if not isinstance(loaded, dict):
                raise ValueError(f"engine options {text!r}: expected a JSON object")
            out.update({_key(k): v for k, v in loaded.items()})
            continue
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"engine option {text!r}: expected key=value or a JSON object")
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        out[_key(key)] = parsed
    return out


def _key(key: str) -> str:
    return key.strip().lstrip("-").replace("-", "_")


def normalise(options: Mapping[str, Any] | None) -> EngineArgs:
    """Options from a config file: keys with dashes become underscores."""
    return {_key(str(k)): v for k, v in (options or {}).items()}


def known_options(spec: str) -> tuple[str, set[str]]:
    """(engine name for messages, the option names the engine ``spec`` builds accepts)."""
    from critic.engines import parse_spec

    backend, _ = parse_spec(spec)
    if backend == "openai":
        from critic.engines.openai_engine import OpenAIEngine

        return "OpenAI engine", _parameters(OpenAIEngine.__init__, skip={"self", "base_url", "model", "name"})
    if backend == "hf":
        from critic.engines.hf_engine import HFEngine

        return "transformers engine", _parameters(HFEngine.__init__, skip={"self", "model", "name"})
    try:
        from vllm.engine.arg_utils import AsyncEngineArgs
    except ImportError as exc:
        raise EngineError(f"vLLM is not installed ({exc}); use an 'hf:' spec or install the cpu/gpu extra") from exc
    return "vLLM engine", {f.name for f in dataclasses.fields(AsyncEngineArgs)} - {"model"} | {"seed"}


def _parameters(function: Any, skip: set[str]) -> set[str]:
    return {name for name in inspect.signature(function).parameters if name not in skip}


def check_engine_options(spec: str, options: Mapping[str, Any] | None, source: str | None = None) -> None:
    """Raise one :class:`EngineError` line when ``options`` holds a name the engine for ``spec`` does not take;
    ``source`` (``"--critic-args"``, ``"engine_args.critic"``) says where the options were given."""
    if options:
        what, known = known_options(spec)
        reject_unknown(what, options, known, source)


def reject_unknown(what: str, options: Iterable[str], known: set[str], source: str | None = None) -> None:
    """One :class:`EngineError` line for the first option name not in ``known``, with the closest known name;
    ``source`` is where the option was given (a flag or a config key), named in the line."""
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            where = f" in {source}" if source else ""
            raise EngineError(f"unknown {what} option {name!r}{where}{hint}")


def role_engines_args(specs: Mapping[str, str], args: Mapping[str, Mapping[str, Any]]) -> dict[str, EngineArgs]:
    """Options per role, with roles that name the same spec sharing one option set (they share one engine).

    ``specs`` = ``{role: spec}``, ``args`` = ``{role: options}``. Raises ValueError when two roles on one spec set
    the same option to different values, or ``args`` names a role that is not in ``specs``.
    """
    unknown = sorted(set(args) - set(specs))
    if unknown:
        raise ValueError(f"engine_args for unknown role(s) {', '.join(unknown)}; roles here: {', '.join(specs)}")
    merged: dict[str, EngineArgs] = {}
    owner: dict[tuple[str, str], str] = {}
    for role, spec in specs.items():
        shared = merged.setdefault(spec, {})
        for key, value in normalise(args.get(role)).items():
            if key in shared and shared[key] != value:
                raise ValueError(f"--{owner[spec, key]}-args and --{role}-args set {key} differently, but both roles "
                                 f"use the engine {spec!r} (one engine per spec)")
            shared[key] = value
            owner.setdefault((spec, key), role)
    return {role: merged[spec] for role, spec in specs.items()}


def engine_args_for(
    specs: Mapping[str, str],
    config_args: Mapping[str, Mapping[str, Any]] | None = None,
    flags: Mapping[str, Iterable[str] | None] | None = None,
) -> dict[str, EngineArgs]:
    """Checked engine options per role: ``config_args`` (a config's ``engine_args``), then the ``--<role>-args``
    ``flags`` on top, merged per spec (:func:`role_engines_args`) and checked against the engine each spec builds
    (:func:`check_engine_options`). Raises ValueError / :class:`EngineError` with one line."""
    from_config: dict[str, EngineArgs] = {role: normalise(options) for role, options in (config_args or {}).items()}
    from_flags = {role: parse_engine_args(items) for role, items in (flags or {}).items()}
    given: dict[str, EngineArgs] = {role: dict(options) for role, options in from_config.items()}
    for role, parsed in from_flags.items():
        if parsed:
            given[role] = {**given.get(role, {}), **parsed}
    per_role = role_engines_args(specs, given)
    # Each role's own options, checked before they are merged per spec, so the line names where they were given.
    for role, spec in specs.items():
        check_engine_options(spec, from_flags.get(role), f"--{role}-args")
        check_engine_options(spec, from_config.get(role), f"engine_args.{role}")
    return per_role

"""Verified majority voting (test-time scaling): N generator samples per problem; plain majority over their final
answers vs majority over the samples the critic accepts; accuracy as a function of N (1, 2, 4, ..., N, every point
from the first samples of the same N).

A sample is *accepted* when the critic's critique (greedy, deliberate prompt) reads and finds no wrong step, and -
with ``sympy="veto"`` - SymPy finds no definite contradiction in it. When none of a problem's first n samples is
accepted, verified voting falls back to the plain majority (reported as ``fallback``). Answers vote by equivalence
(:func:`critic.grading.answers_match`); samples without an answer do not vote; ties go to the answer seen first.

Problems stream through a window sized for the engines (:mod:`critic.jobs`): a problem's N samples are one request,
its critiques N more, and its row is written the moment its last critique is back. Files: ``samples.jsonl`` (one
row per problem with every sample, resumable; a problem the engines refuse is a final error row), ``metrics.json``
(``{data: {n, majority, verified, fallback, oracle}}``), ``report.md``, ``accuracy_vs_n.png``, ``config.json``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from critic.engines.base import ChatEngine, Sampling, check_generations
from critic.io import JsonlWriter, ShardSpec, done_ids, is_error_row, read_best_rows, select_shard
from critic.jobs import error_text, item_workers, progress_bar, run_sync, stream, windowed
from critic.parse import parse_critique
from critic.prompts import SOLVE_PREFIX, CriticPrompt, CriticPromptSettings, solve_messages
from critic.records import NO_ERROR, Problem, first_sympy_finding
from critic.steps import split_steps
from eval import rundir
from eval.metrics import accuracy_vs_n, cluster_answers, powers_of_two_up_to
from eval.report import write_tts_report
from eval.results import TtsSummary

SAMPLES = "samples.jsonl"


class TtsConfig(CriticPromptSettings):
    """Everything that decides a verified-voting run's results (written to ``config.json``)."""

    kind: Literal["tts"] = "tts"
    generator: str = Field("embedded", description="generator engine spec", json_schema_extra={"metavar": "SPEC"})
    critic: str = Field("embedded", description="critic engine spec", json_schema_extra={"metavar": "SPEC"})
    data: list[str] = Field(default_factory=lambda: ["gsm8k-test"], description="problem set name or file (repeatable)",
                            json_schema_extra={"metavar": "NAME|PATH"})
    n: int = Field(8, ge=1, description="samples per problem; the curve is at 1, 2, 4, ..., n")
    temperature: float = Field(0.7, gt=0.0, description="generator temperature")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="generator nucleus sampling top_p")
    max_tokens: int = Field(1024, ge=1, description="generator token limit")
    critic_max_tokens: int = Field(2048, ge=1, description="critique token limit")
    sympy: Literal["off", "veto"] = Field("off", description="veto: a SymPy contradiction also rejects a sample")
    limit: int | None = Field(None, ge=1, description="problems per data set (a seeded random subset)")
    seed: int | None = Field(0, description="seed for limit subsets and sampling")
    shard: ShardSpec = Field(None, description="i/N: only the problems of shard i of N (stable hash of the key)")
    window: int | None = Field(None, ge=1, description="sequences in flight per engine (default: sized for the "
                                                       "engine); does not change results")
    engine_args: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                   description="engine options per role: {generator: {...}, "
                                                               "critic: {...}}")
    name: str | None = Field(None, description="label for reports; None = the run folder's name")



CONFIG_TYPE = TtsConfig
RESUMABLE_KEYS = rundir.RUN_ONLY_KEYS


def _problems(config: TtsConfig) -> list[tuple[str, str, Problem]]:
    problems = rundir.load_problem_sets(config.data, config.limit, config.seed)
    return select_shard([(key, label, p) for key, (label, p) in problems.items()], config.shard,
                        key=lambda item: item[0])


async def sample_row(config: TtsConfig, item: tuple[str, str, Problem], generator: ChatEngine,
                     critic: ChatEngine, prompt: CriticPrompt | None = None) -> dict:
    """Generate n samples for one problem, critique each (concurrently), and return the problem's row."""
    from agent.solve import final_answer
    from critic.grading import answers_match

    key, name, p = item
    sampling = Sampling(n=config.n, temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens,
                        seed=config.seed)
    generations = check_generations(await generator.agenerate(solve_messages(p.problem), sampling))
    samples = [(split_steps(SOLVE_PREFIX + str(g)), g) for g in generations]
    critic_sampling = Sampling(temperature=0.0, max_tokens=config.critic_max_tokens, seed=config.seed)
    build = (prompt or config.critic_prompt()).messages

    async def critique(steps: list[str]):
        if not steps:
            return None  # an empty solution is never accepted
        return check_generations(await critic.agenerate(build(p.problem, steps), critic_sampling))[0]

    critiques = await asyncio.gather(*(critique(steps) for steps, _ in samples))
    row = {"key": key, "id": p.id, "data": name, "problem": p.problem, "gold": p.answer, "samples": [], "error": None}
    for (steps, gen), critique_gen in zip(samples, critiques, strict=True):
        answer = final_answer(steps)
        entry = {
            "steps": steps,
            "answer": answer,
            "correct": answer is not None and await asyncio.to_thread(answers_match, answer, p.answer),
            "tokens": getattr(gen, "num_tokens", 0),
            "critic_status": "unparsed",
            "first_wrong_step1": None,
            "sympy_step1": None,
            "critic_tokens": 0,
            "accepted": False,
        }
        if critique_gen is not None:
            critique = parse_critique(str(critique_gen), len(steps), getattr(critique_gen, "finish_reason", "stop"))
            entry |= {"critic_status": critique.status, "first_wrong_step1": critique.first_wrong_step1,
                      "critic_tokens": getattr(critique_gen, "num_tokens", 0)}
            accepted = critique.accepts
            if config.sympy == "veto" and accepted:
                from critic.verify import check_steps

                checks = await asyncio.to_thread(check_steps, p.problem, steps)
                first = first_sympy_finding(checks)
                entry["sympy_step1"] = first
                accepted = first == NO_ERROR
            entry["accepted"] = accepted
        row["samples"].append(entry)
    return row


def vote_inputs(row: dict) -> dict:
    """The per-problem lists :func:`eval.metrics.accuracy_vs_n` votes over."""
    from critic.grading import answers_match

    samples = row["samples"]
    return {
        "clusters": cluster_answers([s["answer"] for s in samples], answers_match),
        "correct": [s["correct"] for s in samples],
        "accepted": [s["accepted"] for s in samples],
    }


def run_tts(config: TtsConfig, out_dir: str | Path, generator: ChatEngine | None = None,
            critic: ChatEngine | None = None, progress: bool = True, retry_errors: bool = False) -> TtsSummary:
    """Run (or resume) verified majority voting into ``out_dir``; returns ``{data: curve}``
    (:class:`~eval.results.TtsSummary`). ``retry_errors`` reruns error rows; raises
    :class:`~critic.engines.base.EngineDead` when an engine dies (rerun to resume)."""
    from agent.solve import resolve_engine

    prompt = config.critic_prompt()  # a bad template fails here, before any engine starts
    problems = _problems(config)
    with rundir.open_run(out_dir, config, ignore=RESUMABLE_KEYS, prompts={"critic": prompt.record()}) as out_dir:
        path = out_dir / SAMPLES
        done = done_ids(read_best_rows(path, "key"), retry_errors)
        todo = [item for item in problems if item[0] not in done]
        if todo:
            args = config.engine_args
            engines = windowed({
                "generator": generator or resolve_engine(config.generator, **args.get("generator", {})),
                "critic": critic or resolve_engine(config.critic, **args.get("critic", {})),
            }, config.window)
            capacity = max(view.window.capacity for view in engines.values())

            def error_row(item: tuple[str, str, Problem], exc: BaseException) -> dict:
                key, name, p = item
                return {"key": key, "id": p.id, "data": name, "problem": p.problem, "gold": p.answer, "samples": [],
                        "error": error_text(exc)}

            with JsonlWriter(path) as writer, progress_bar(len(todo), "tts", "problem", progress) as bar:
                run_sync(stream(todo,
                                lambda item: sample_row(config, item, engines["generator"], engines["critic"], prompt),
                                writer, workers=item_workers(capacity, config.n), error_row=error_row,
                                on_row=lambda row: bar.update(1)))
        return finish(config, out_dir, keys={key for key, _, _ in problems})


def finish(config: TtsConfig, out_dir: Path, keys: Collection[str] | None = None) -> TtsSummary:
    """Accuracy-vs-N curves from the folder's rows (of ``keys``, or all) into ``metrics.json`` and the report. A
    problem with an error row counts as answered wrong at every N (no sample votes)."""
    rows = {k: row for k, row in read_best_rows(out_dir / SAMPLES, "key").items() if keys is None or k in keys}
    ns = powers_of_two_up_to(config.n)
    metrics = {}
    for label in dict.fromkeys(row["data"] for row in rows.values()):
        selected = [vote_inputs(row) for row in rows.values() if row["data"] == label]
        errors = sum(is_error_row(row) for row in rows.values() if row["data"] == label)
        metrics[label] = accuracy_vs_n(selected, ns) | {"problems": len(selected), "errors": errors}
    return rundir.finish_with(out_dir, TtsSummary.model_validate(metrics), write_tts_report)

"""Refinement success: does critique-then-refine turn wrong final answers into right ones (and how many right ones
into wrong)?

On GSM8K test / MATH-500 (any ``critic.data`` problem set): take initial solutions - generated here with the
generator (greedy by default) or loaded from a JSONL of existing outputs - run :func:`agent.refine_batch` on them,
and grade the final answer before and after against the gold answer (:func:`critic.grading.answers_match`).

Variants (``--ablations`` adds the last two):

- ``critic``: the critic engine critiques, SymPy in the configured mode (default ``veto``).
- ``self-critic``: the *generator* critiques its own solution with the same critic prompt, SymPy as above - the
  self-refine baseline; the gap to ``critic`` is what the separate critic adds. (Identical to ``critic`` when both
  specs are the same model.)
- ``no-sympy``: the critic engine with SymPy off - the gap to ``critic`` is what the SymPy tool adds.

Files: ``initial.jsonl`` (one solution per problem, streamed through a window sized for the generator and resumable;
a problem the generator refuses is a final error row), ``refined-<variant>.jsonl`` (refine_batch rows, resumable),
``metrics.json`` (``{data: {variant: {...}}}``), ``report.md``, ``refine.png``, ``config.json``. Failure semantics,
shards and exit codes are those of every long job (:mod:`critic.jobs`, :mod:`eval.rundir`).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from critic.engines.base import ChatEngine, Sampling, check_generations
from critic.grading import answers_match
from critic.io import (
    JsonlWriter,
    ShardSpec,
    check_input_ids,
    done_ids,
    is_error_row,
    iter_jsonl,
    read_best_rows,
    select_shard,
)
from critic.jobs import WindowedEngine, error_text, item_workers, progress_bar, run_sync, stream
from critic.prompts import CriticPromptSettings
from critic.records import Problem, SympyMode
from critic.steps import split_steps
from eval import rundir
from eval.metrics import refinement_metrics
from eval.report import write_refine_report
from eval.results import RefineSummary, RefineVariant

INITIAL = "initial.jsonl"
VARIANTS = ("critic", "self-critic", "no-sympy")


class RefineConfig(CriticPromptSettings):
    """Everything that decides a refinement run's results (written to ``config.json``)."""

    kind: Literal["refine"] = "refine"
    generator: str = Field("embedded", description="generator engine spec", json_schema_extra={"metavar": "SPEC"})
    critic: str = Field("embedded", description="critic engine spec", json_schema_extra={"metavar": "SPEC"})
    data: list[str] = Field(default_factory=lambda: ["gsm8k-test", "math500"],
                            description="problem set name or file (repeatable)",
                            json_schema_extra={"metavar": "NAME|PATH"})
    initial: str | None = Field(None, description="JSONL of existing solutions (id, problem, steps|response); "
                                                  "ids 'data/problem-id' or problem ids of --data")
    limit: int | None = Field(None, ge=1, description="problems per data set (a seeded random subset)")
    seed: int | None = Field(0, description="seed for limit subsets and sampling")
    max_rounds: int = Field(3, ge=1, description="critique rounds; at most max_rounds-1 refinements")
    sympy: SympyMode = Field("veto", description="SymPy checks in the loop (agent.graph)")
    ablations: bool = Field(False, description="also run the self-critic (the generator critiques itself) "
                                               "and no-SymPy variants")
    temperature: float = Field(0.0, ge=0.0, description="generator temperature (initial solutions and refinement)")
    max_tokens: int = Field(1024, ge=1, description="generator max tokens per call")
    critic_max_tokens: int = Field(2048, ge=1, description="critique token limit")
    concurrency: int | None = Field(None, ge=1, description="requests in flight (initial solutions) and refine loops "
                                                          "in flight (default: sized for the engines)")
    shard: ShardSpec = Field(None, description="i/N: only the problems of shard i of N (stable hash of the key)")
    engine_args: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                   description="engine options per role: {generator: {...}, "
                                                               "critic: {...}}")
    name: str | None = Field(None, description="label for reports; None = the run folder's name")

    @property
    def variants(self) -> tuple[RefineVariant, ...]:
        """The variants this run refines with: ``critic``, and with ``ablations`` also ``self-critic`` and
        ``no-sympy``."""
        return VARIANTS if self.ablations else VARIANTS[:1]

    def variant_setting(self, variant: RefineVariant) -> dict[str, str]:
        """Which engine critiques and which SymPy mode applies in a variant."""
        return {
            "critic": {"critic": self.critic, "self-critic": self.generator, "no-sympy": self.critic}[variant],
            "sympy": "off" if variant == "no-sympy" else self.sympy,
        }

    @property
    def generator_sampling(self) -> Sampling:
        """The generator's decoding (one sample, ``temperature``, ``max_tokens``, seeded)."""
        return Sampling(temperature=self.temperature, max_tokens=self.max_tokens, seed=self.seed)

    @property
    def critic_sampling(self) -> Sampling:
        """The critic's decoding: greedy (temperature 0), ``critic_max_tokens``, seeded."""
        return Sampling(temperature=0.0, max_tokens=self.critic_max_tokens, seed=self.seed)



CONFIG_TYPE = RefineConfig
RESUMABLE_KEYS = (*rundir.RUN_ONLY_KEYS, "ablations")


def load_problems(config: RefineConfig) -> dict[str, tuple[str, Problem]]:
    """``{key: (data name, problem)}`` with key = ``data/problem-id`` (unique across data sets), of ``config.shard``."""
    out = rundir.load_problem_sets(config.data, config.limit, config.seed)
    return dict(select_shard(list(out.items()), config.shard, key=lambda item: item[0]))


def _initial_row(key: str, data: str, problem: Problem, steps: list[str], tokens: int, response: str) -> dict:
    return {"id": key, "data": data, "problem": problem.problem, "answer": problem.answer, "steps": steps,
            "response": response, "tokens": tokens, "error": None}


def generate_initial(config: RefineConfig, problems: dict[str, tuple[str, Problem]], path: Path,
                     generator: ChatEngine, progress: bool = True, retry_errors: bool = False) -> None:
    """One solution per problem (``solve_messages``, continuation of ``Step 1:``), each appended the moment it is
    back; a problem the generator refuses gets an error row."""
    from critic.prompts import SOLVE_PREFIX, solve_messages

    done = done_ids(read_best_rows(path), retry_errors)
    todo = [(key, data, p) for key, (data, p) in problems.items() if key not in done]
    if not todo:
        return
    view = WindowedEngine(generator, config.concurrency)

    async def solve(item: tuple[str, str, Problem]) -> dict:
        key, data, p = item
        gen, *_ = check_generations(await view.agenerate(solve_messages(p.problem), config.generator_sampling))
        text = SOLVE_PREFIX + str(gen)
        return _initial_row(key, data, p, split_steps(text), getattr(gen, "num_tokens", 0), text)

    def error_row(item: tuple[str, str, Problem], exc: BaseException) -> dict:
        key, data, p = item
        return _initial_row(key, data, p, [], 0, "") | {"error": error_text(exc)}

    with JsonlWriter(path) as writer, progress_bar(len(todo), "initial solutions", "sol", progress) as bar:
        run_sync(stream(todo, solve, writer, workers=item_workers(view.window.capacity, 1), error_row=error_row,
                        on_row=lambda row: bar.update(1)))


def load_initial(config: RefineConfig, problems: dict[str, tuple[str, Problem]], path: Path) -> None:
    """Copy the rows of ``config.initial`` that answer a selected problem into ``path``, keyed like generated ones.

    A row matches by id: either the key itself (``data/problem-id``) or a bare problem id of one of the data sets.
    """
    by_problem_id = {p.id: key for key, (_, p) in problems.items()}
    done = set(read_best_rows(path))
    numbered = list(iter_jsonl(config.initial))
    check_input_ids(((n, str(row["id"]) if row.get("id") is not None else f"#{n}") for n, row in numbered),
                    config.initial)  # one solution per id: a second one would be dropped unseen
    rows = [row for _, row in numbered]
    matched = 0
    with JsonlWriter(path) as writer:
        for row in rows:
            raw_id = str(row.get("id"))
            key = raw_id if raw_id in problems else by_problem_id.get(raw_id)
            if key is None:
                continue
            matched += 1
            if key in done:
                continue
            data, problem = problems[key]
            steps = row.get("steps")
            response = row.get("response")
            if steps is None:
                steps = split_steps(str(response or ""))
            writer.write(_initial_row(key, data, problem, list(steps), int(row.get("tokens") or 0),
                                      response if isinstance(response, str) else "\n\n".join(steps)))
            done.add(key)
    if not matched:
        raise ValueError(f"no row of {config.initial} has the id of a selected problem of {', '.join(config.data)}")


def run_refine(config: RefineConfig, out_dir: str | Path, generator: ChatEngine | None = None,
               critic: ChatEngine | None = None, progress: bool = True,
               retry_errors: bool = False) -> RefineSummary:
    """Run (or resume) a refinement evaluation into ``out_dir``; returns ``{data: {variant: metrics}}``
    (:class:`~eval.results.RefineSummary`).

    ``generator`` / ``critic`` override the configured engine specs (tests pass fakes). ``retry_errors`` reruns
    error rows. Raises :class:`~critic.engines.base.EngineDead` when an engine dies (rerun to resume).
    """
    from agent import refine_batch
    from agent.solve import resolve_engine

    prompt = config.critic_prompt()  # a bad template fails here, before any engine starts
    problems = load_problems(config)
    engines: dict[str, ChatEngine] = {}
    if generator is not None:
        engines[config.generator] = generator
    if critic is not None:
        engines.setdefault(config.critic, critic)

    def engine(spec: str) -> ChatEngine:
        if spec not in engines:
            engines[spec] = resolve_engine(spec, **_args_for(config, spec))
        return engines[spec]

    with rundir.open_run(out_dir, config, ignore=RESUMABLE_KEYS, prompts={"critic": prompt.record()}) as out_dir:
        initial_path = out_dir / INITIAL
        if config.initial:
            load_initial(config, problems, initial_path)
        else:
            pending = set(problems) - done_ids(read_best_rows(initial_path), retry_errors)
            if pending:
                generate_initial(config, problems, initial_path, engine(config.generator), progress, retry_errors)
        initial = {key: row for key, row in read_best_rows(initial_path).items() if key in problems}
        for variant in config.variants:
            setting = config.variant_setting(variant)
            refine_batch(
                [{"id": key, "problem": row["problem"], "steps": row["steps"], "answer": row["answer"]}
                 for key, row in initial.items() if row["steps"] and not is_error_row(row)],
                out_dir / f"refined-{variant}.jsonl",
                # Specs, built only when a row is left: a finished variant starts no engine.
                generator=engines.get(config.generator, config.generator),
                critic=engines.get(setting["critic"], setting["critic"]),
                engine_args={"generator": _args_for(config, config.generator),
                             "critic": _args_for(config, setting["critic"])},
                concurrency=config.concurrency,
                max_rounds=config.max_rounds,
                sympy=setting["sympy"],
                sampling=config.generator_sampling,
                critic_sampling=config.critic_sampling,
                progress=progress,
                critic_prompt=prompt,
                retry_errors=retry_errors,
            )
        return finish(config, out_dir, keys=set(problems))


def _args_for(config: RefineConfig, spec: str) -> dict[str, Any]:
    """Engine options of whichever role runs ``spec`` (one engine per spec)."""
    for role in ("generator", "critic"):
        if getattr(config, role) == spec and config.engine_args.get(role):
            return dict(config.engine_args[role])
    return {}


def finish(config: RefineConfig, out_dir: Path, keys: Collection[str] | None = None) -> RefineSummary:
    """Grade before / after from the folder's rows (of ``keys``, or all) into ``metrics.json`` and the report."""
    from agent.solve import final_answer

    initial = {k: row for k, row in read_best_rows(out_dir / INITIAL).items() if keys is None or k in keys}
    metrics: dict[str, dict[str, dict]] = {}
    for variant in config.variants:
        setting = config.variant_setting(variant)
        refined = read_best_rows(out_dir / f"refined-{variant}.jsonl")
        graded: dict[str, list[dict]] = {}
        for key, row in initial.items():
            before = not is_error_row(row) and answers_match(final_answer(row["steps"]), row["answer"])
            out = refined.get(key)
            if out is None or is_error_row(out):
                # No refinement happened (no initial solution, an empty one, or an error row): the answer stands.
                result = {"correct_before": before, "correct_after": before, "rounds": 0, "tokens": 0,
                          "error": True, "accepted": False}
            else:
                result = {"correct_before": before, "correct_after": bool(out["final_correct"]),
                          "rounds": out["rounds"], "tokens": out["tokens"], "error": False,
                          "accepted": bool(out["accepted"])}
            graded.setdefault(row["data"], []).append(result)
        for data, results in graded.items():
            m = refinement_metrics(results)
            m["errors"] = sum(r["error"] for r in results)
            m["accepted"] = sum(r["accepted"] for r in results)
            m["initial_tokens"] = sum(int(initial[k].get("tokens") or 0) for k in initial
                                      if initial[k]["data"] == data)
            m |= setting
            metrics.setdefault(data, {})[variant] = m
    return rundir.finish_with(out_dir, RefineSummary.model_validate(metrics), write_refine_report)

"""Seed critique synthesis (``deepcritic train seed``): deliberate step-by-step critiques written by a teacher model.

For each step-labelled solution, for each step up to its first wrong one (the trained critique stops there):

1. **initial** - the teacher critiques the step (:func:`critic.prompts.initial_step_critique_messages`);
2. **deep** - it re-verifies the step another way, ``deep_samples`` times; the first sample whose verdict agrees
   with the label is kept (:func:`critic.prompts.deep_verification_messages`);
3. **merge** - it merges both into one deliberate critique of the step; the first of ``merge_samples`` whose verdict
   agrees with the label is kept (:func:`critic.prompts.merge_critique_messages`).

A solution is kept only when every step's merged verdict agrees with the labels; its SFT example is the critic prompt
(:class:`critic.prompts.CriticPrompt`: our wording or ``critic_template``) plus the merged critiques rendered by
:func:`critic.prompts.format_critique`. Balance: all-correct solutions whose initial critiques were already right
("easy") are capped at ``max_easy_correct`` (the reference kept 250 of ~4.5K): the first ones in input order
(``easy_cap: first``, ours) or a seeded random choice (``easy_cap: random``, the reference's).

Reference settings (DeepCritic's ``Critique_Generation`` scripts and ``scripts/run_critique_gen.sh``), each an option
with our default beside it: the teacher sees the whole solution (``teacher_context: whole``) or, ours, the steps up
to the judged one (``prefix``); 16 in-depth samples at temperature 1.0 (``deep_samples``, ``deep_temperature``; ours
4 at ``temperature``); merge with 2048 tokens (``merge_max_tokens``); one solution per problem after a seeded shuffle
(``one_solution_per_problem``); the teacher prompts from template files (``teacher_*_template``,
``merge_examples``) and the critic prompt of the SFT examples from ``critic_template`` / ``critic_system_prompt``.

``keep_disagreeing: true`` also keeps solutions whose teacher verdicts disagree with the labels; their verdict
lines then follow the labels, not the teacher, so the reasoning may contradict its verdict. It exists only for smoke
tests with a teacher too weak to agree with anything; such rows are marked ``agreed: false`` and counted in stats.

Solutions stream through a window of sequences sized for the teacher engine (:mod:`critic.jobs`): each stage sends
the requests of all a solution's steps at once, and a solution's row is appended to ``results.jsonl`` (the resume
point) the moment its last stage is back; a solution the teacher refuses is a final error row (``--retry-errors``
reruns it). The dataset (``dataset/`` via ``save_to_disk``, ``train.jsonl``) and ``stats.json`` are rebuilt from it,
in input order, at the end of every run; ``shard: i/N`` runs one part, ``deepcritic merge`` joins the parts.
"""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field

from critic.engines.base import ChatEngine, Generation, Sampling, check_generations
from critic.prompts import CriticPrompt, TeacherContext, TeacherPrompts, load_template
from critic.records import NO_ERROR, LabeledSolution, StepVerdict
from critic.steps import StepTagging, label0_to_step1
from training.inputs import load_labeled_solutions, resolve_path
from training.pipeline import PipelineConfig, ordered_best_rows, process_pending, write_run_config

logger = logging.getLogger(__name__)


class SeedConfig(PipelineConfig):
    """Settings of ``deepcritic train seed`` (YAML keys = field names)."""

    input: str = Field(description="step-labelled JSONL: mc-label's labels.jsonl or PRM800K rows")
    output_dir: str = Field(description="results.jsonl, train.jsonl, dataset/ and stats.json go here")
    teacher: str = Field("embedded", description="engine spec (critic.engines.get_engine)")
    limit: int | None = Field(None, ge=1, description="first N input solutions")
    one_solution_per_problem: bool = Field(
        False, description="keep the first solution of each problem after a seeded shuffle (reference: true)")
    teacher_context: TeacherContext = Field(
        "prefix", description="the teacher sees the steps up to the judged one (prefix) or the whole solution "
                              "(whole, reference)")
    deep_samples: int = Field(4, ge=1, description="in-depth re-verifications per step; the first agreeing one is "
                                                   "kept (reference: 16)")
    deep_temperature: float | None = Field(None, ge=0.0, description="in-depth sampling temperature (None = "
                                                                     "temperature; reference: 1.0)")
    merge_samples: int = Field(1, ge=1, description="merged critiques per step; the first agreeing one is kept")
    temperature: float = Field(0.7, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(1024, ge=1, description="per teacher generation")
    merge_max_tokens: int | None = Field(None, ge=1, description="per merge generation (None = max_tokens; "
                                                                 "reference: 2048)")
    max_easy_correct: int | None = Field(None, ge=0, description="cap on all-correct solutions needing no correction")
    easy_cap: Literal["first", "random"] = Field(
        "first", description="which easy all-correct solutions the cap keeps: first in input order, or a seeded "
                             "random choice (reference)")
    keep_disagreeing: bool = Field(False, description="keep rows the teacher got wrong (smoke tests only, see docs)")
    seed: int | None = Field(0, description="sampling seed, and of the shuffles (None = unseeded sampling, shuffles "
                                            "seeded 0)")
    teacher_initial_template: str | None = Field(None, description="initial-critique template file ({problem}, "
                                                                   "{solution}, {step_index}); None = ours")
    teacher_deep_template: str | None = Field(None, description="in-depth template file (also {original_critique})")
    teacher_merge_template: str | None = Field(
        None, description="merge template file ({original_critique}, {critique_of_original_critique}, optional "
                          "{example1} {example2} {problem} {solution} {step_index})")
    merge_examples: list[str] = Field(default_factory=list, description="files filling {example1}, {example2}")
    teacher_system_prompt: str | None = Field(None, description="teacher system message; 'none' = none; None = ours "
                                                                "with our wording, none with a template")
    critic_template: str | None = Field(None, description="critic template of the SFT examples ({problem}, "
                                                          "{tagged_response}); None = our wording")
    critic_system_prompt: str | None = Field(None, description="system message of the SFT examples; 'none' = none")
    critic_step_tagging: StepTagging = Field("startswith", description="Step i: rule of the SFT examples' critic "
                                                                       "prompt (contains = DeepCritic's)")

    def teacher_prompts(self) -> TeacherPrompts:
        """The teacher prompts (loads and checks the templates and example files; TemplateError in one line)."""
        examples = []
        for path in self.merge_examples:
            try:
                examples.append(resolve_path(path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as e:
                raise ValueError(f"merge example {path}: cannot be read ({type(e).__name__})") from None
        return TeacherPrompts(
            initial=load_template(self.teacher_initial_template, "initial"),
            deep=load_template(self.teacher_deep_template, "deep"),
            merge=load_template(self.teacher_merge_template, "merge"),
            system_prompt=self.teacher_system_prompt,
            context=self.teacher_context,
            examples=tuple(examples),
        )

    def critic_prompt(self) -> CriticPrompt:
        """The critic prompt of the SFT examples (the trained critic must later be evaluated with the same)."""
        return CriticPrompt.from_settings("deliberate", self.critic_template, self.critic_system_prompt,
                                          self.critic_step_tagging)

    def check_files(self) -> None:
        """Read the teacher templates, merge examples and the critic template so a bad one fails before any work
        (TemplateError, one line)."""
        self.teacher_prompts()
        self.critic_prompt()


@dataclass
class StepWork:
    """One step of one solution moving through the three stages."""

    solution: LabeledSolution
    step1: int
    expected: str  # "correct" | "wrong": what the label says about this step
    initial: str = ""
    initial_verdict: str | None = None
    deep: str = ""
    deep_verdict: str | None = None
    deep_agreeing_sample: int | None = None  # index of the kept deep sample, None = none agreed
    merged: str = ""
    merged_verdict: str | None = None
    samples: dict[str, int] = field(default_factory=dict)


def steps_to_critique(solution: LabeledSolution) -> list[tuple[int, str]]:
    """(step1, expected verdict) for every step the trained critique covers: up to and including the first wrong."""
    last = len(solution.steps) if solution.label0 == NO_ERROR else label0_to_step1(solution.label0)
    return [(i, "wrong" if i == last and solution.has_error else "correct") for i in range(1, last + 1)]


def _pick(texts: list[str], expected: str) -> tuple[str, str | None, int | None]:
    """The first text whose step verdict agrees with ``expected`` (else the first text): text, verdict, index."""
    from critic.parse import parse_step_judgement

    verdicts = [parse_step_judgement(t) for t in texts]
    for i, (text, verdict) in enumerate(zip(texts, verdicts)):
        if verdict == expected:
            return text, verdict, i
    return texts[0], verdicts[0], None


async def critique_solution(engine: ChatEngine, solution: LabeledSolution, cfg: SeedConfig,
                            prompts: TeacherPrompts | None = None, critic: CriticPrompt | None = None) -> dict:
    """Run the three teacher stages over one solution's steps (each stage: every step's request at once); its row.
    ``prompts`` / ``critic``: the config's teacher and critic prompts, built once by callers that have them."""
    prompts = prompts or cfg.teacher_prompts()
    critic = critic or cfg.critic_prompt()

    def sampling(n: int, temperature: float | None = None, max_tokens: int | None = None) -> Sampling:
        return Sampling(n=n, temperature=cfg.temperature if temperature is None else temperature, top_p=cfg.top_p,
                        max_tokens=max_tokens or cfg.max_tokens, seed=cfg.seed)

    async def stage(chats: list[list[dict[str, str]]], params: Sampling) -> list[list[Generation]]:
        replies = await asyncio.gather(*(engine.agenerate(chat, params) for chat in chats))
        return [check_generations(reply) for reply in replies]

    work = [StepWork(solution, step1, expected) for step1, expected in steps_to_critique(solution)]

    chats = [prompts.initial_messages(w.solution.problem, w.solution.steps, w.step1) for w in work]
    for w, outputs in zip(work, await stage(chats, sampling(1)), strict=True):
        w.initial, w.initial_verdict, _ = _pick([str(o) for o in outputs], w.expected)

    chats = [prompts.deep_messages(w.solution.problem, w.solution.steps, w.step1, w.initial) for w in work]
    deep = sampling(cfg.deep_samples, cfg.deep_temperature)
    for w, outputs in zip(work, await stage(chats, deep), strict=True):
        w.deep, w.deep_verdict, w.deep_agreeing_sample = _pick([str(o) for o in outputs], w.expected)

    # Merging is only worth it when every step found an agreeing deep critique.
    failed_deep = any(w.deep_agreeing_sample is None for w in work)
    if cfg.keep_disagreeing or not failed_deep:
        chats = [prompts.merge_messages(w.solution.problem, w.solution.steps, w.step1, w.initial, w.deep)
                 for w in work]
        merge = sampling(cfg.merge_samples, max_tokens=cfg.merge_max_tokens)
        for w, outputs in zip(work, await stage(chats, merge), strict=True):
            w.merged, w.merged_verdict, _ = _pick([str(o) for o in outputs], w.expected)
    return _result_row(solution, work, failed_deep, cfg, critic)


def _result_row(solution: LabeledSolution, steps: list[StepWork], failed_deep: bool, cfg: SeedConfig,
                critic: CriticPrompt) -> dict:
    agreed = not failed_deep and all(w.merged_verdict == w.expected for w in steps)
    if agreed:
        reason = "agreed"
    elif cfg.keep_disagreeing:
        reason = "kept_disagreeing"
    else:
        reason = "deep_disagrees" if failed_deep else "merge_disagrees"
    row = {
        "id": solution.id,
        "error": None,
        "label0": solution.label0,
        "num_steps": len(solution.steps),
        "kept": agreed or cfg.keep_disagreeing,
        "reason": reason,
        "agreed": agreed,
        "needed_correction": any(w.initial_verdict != w.expected for w in steps),
        "steps": [
            {
                "step1": w.step1,
                "expected": w.expected,
                "initial": w.initial,
                "initial_verdict": w.initial_verdict,
                "deep": w.deep,
                "deep_verdict": w.deep_verdict,
                "deep_agreeing_sample": w.deep_agreeing_sample,
                "merged": w.merged,
                "merged_verdict": w.merged_verdict,
            }
            for w in steps
        ],
        "messages": None,
    }
    if row["kept"]:
        row["messages"] = sft_messages(solution, [w.merged for w in steps], critic)
    return row


def sft_messages(solution: LabeledSolution, step_critiques: list[str],
                 prompt: CriticPrompt | None = None) -> list[dict[str, str]]:
    """One SFT example: the critic prompt, then the critique of steps 1..first wrong in the trained format.

    ``step_critiques[i]`` is the reasoning about step i+1 (a judgement line in it is replaced); the verdicts come from
    the label (equal to the teacher's for every row seed synthesis keeps, unless ``keep_disagreeing``).
    """
    from critic.prompts import format_critique

    expected = steps_to_critique(solution)
    if len(step_critiques) != len(expected):
        raise ValueError(f"{solution.id}: {len(step_critiques)} step critiques for {len(expected)} critiqued steps")
    verdicts = [StepVerdict(step1=i, verdict=v, text=t) for (i, v), t in zip(expected, step_critiques)]
    critique = format_critique(verdicts, label0_to_step1(solution.label0))
    chat = (prompt or CriticPrompt()).messages(solution.problem, solution.steps)
    return chat + [{"role": "assistant", "content": critique}]


def _rng(seed: int | None) -> random.Random:
    return random.Random(0 if seed is None else seed)


def one_per_problem(solutions: list[LabeledSolution], seed: int | None) -> list[LabeledSolution]:
    """A seeded shuffle, then the first solution of each problem (by exact problem text), in shuffled order."""
    shuffled = list(solutions)
    _rng(seed).shuffle(shuffled)
    seen: set[str] = set()
    kept = []
    for s in shuffled:
        if s.problem not in seen:
            seen.add(s.problem)
            kept.append(s)
    return kept


CONFIG_TYPE = SeedConfig


def select_solutions(cfg: SeedConfig) -> list[LabeledSolution]:
    """The solutions a run works on: the first ``limit`` of the input (with ``one_solution_per_problem``: of the
    seeded one-per-problem selection), then ``shard``."""
    from critic.io import select_shard

    solutions = load_labeled_solutions(cfg.input, None if cfg.one_solution_per_problem else cfg.limit)
    if cfg.one_solution_per_problem:
        solutions = one_per_problem(solutions, cfg.seed)[: cfg.limit]
    return select_shard(solutions, cfg.shard, key=lambda s: s.id)


def run_seed(cfg: SeedConfig, engine: ChatEngine | None = None, retry_errors: bool = False) -> dict:
    """Run (or resume) seed synthesis; returns the stats also written to ``stats.json`` (``errors`` = solutions whose
    row is an error row). Raises EngineDead when the teacher dies (rerun to resume), OutputLocked when another run
    holds ``output_dir``."""
    from critic.io import hold

    out = Path(cfg.output_dir)
    prompts, critic = cfg.teacher_prompts(), cfg.critic_prompt()  # a bad template fails before any engine starts
    solutions = select_solutions(cfg)  # and a bad input before the output folder exists
    out.mkdir(parents=True, exist_ok=True)
    with hold(out, folder=True):
        write_run_config(out, "seed", cfg)
        process_pending(solutions, out, lambda eng, solution: critique_solution(eng, solution, cfg, prompts, critic),
                        engine, cfg.teacher, "seed", engine_args=cfg.engine_args.get("teacher"), window=cfg.window,
                        per_item=cfg.deep_samples, retry_errors=retry_errors)
        return build_dataset(out, [s.id for s in solutions], cfg)


def rebuild(cfg: SeedConfig, folders: list[Path], ids: list[str]) -> dict:
    """Dataset and stats of a merged folder (``deepcritic merge``) in input order (after the seeded
    one-per-problem shuffle when set): the easy-correct cap then keeps what an unsharded run keeps."""
    try:
        order = [s.id for s in select_solutions(cfg.model_copy(update={"shard": None}))]
    except (OSError, ValueError) as exc:
        raise ValueError(f"merging seed folders needs their input {cfg.input!r} for the input order ({exc})") from exc
    present = set(ids)
    return build_dataset(Path(cfg.output_dir), [i for i in order if i in present], cfg)


def build_dataset(out: Path, ordered_ids: list[str], cfg: SeedConfig) -> dict:
    """The SFT dataset and stats from ``results.jsonl``: input order, the resume rule of critic.io (per id the last
    row that is not an error row), easy all-correct capped."""
    from datasets import Dataset

    from critic.io import atomic_write_json, atomic_write_jsonl

    rows, errors = ordered_best_rows(out, ordered_ids)

    easy = [row["id"] for row in rows if row["kept"] and row["label0"] == NO_ERROR and not row["needed_correction"]]
    if cfg.easy_cap == "random":
        _rng(cfg.seed).shuffle(easy)
    allowed_easy = set(easy if cfg.max_easy_correct is None else easy[: cfg.max_easy_correct])
    capped_ids = set(easy) - allowed_easy
    examples, capped = [], len(capped_ids)
    for row in rows:
        if not row["kept"] or row["id"] in capped_ids:
            continue
        examples.append(
            {
                "id": row["id"],
                "messages": row["messages"],
                "label0": row["label0"],
                "num_steps": row["num_steps"],
                "needed_correction": row["needed_correction"],
                "agreed": row["agreed"],
            }
        )

    atomic_write_jsonl(out / "train.jsonl", examples)
    if examples:
        Dataset.from_list(examples).save_to_disk(str(out / "dataset"))
    else:  # never leave a dataset from an earlier run next to stats that say there is none
        shutil.rmtree(out / "dataset", ignore_errors=True)

    stats = {
        "solutions": len(ordered_ids),
        "solutions_done": len(rows) + errors,
        "errors": errors,
        "outcome": dict(Counter(row["reason"] for row in rows)),
        "kept_before_cap": sum(row["kept"] for row in rows),
        "capped_easy_correct": capped,
        "examples": len(examples),
        "examples_with_error": sum(e["label0"] != NO_ERROR for e in examples),
        "examples_all_correct": sum(e["label0"] == NO_ERROR for e in examples),
        "examples_needed_correction": sum(e["needed_correction"] for e in examples),
        "examples_disagreeing": sum(not e["agreed"] for e in examples),
        "steps_critiqued": sum(len(row["steps"]) for row in rows),
        "keep_disagreeing": cfg.keep_disagreeing,
        "max_easy_correct": cfg.max_easy_correct,
        "easy_cap": cfg.easy_cap,
        "prompts": {"teacher": cfg.teacher_prompts().record(), "critic": cfg.critic_prompt().record()},
    }
    atomic_write_json(out / "stats.json", stats, sort_keys=True)
    return stats

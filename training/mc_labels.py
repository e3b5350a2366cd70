"""Monte-Carlo step labels (``deepcritic train mc-label``): first-error labels for sampled solutions without a human.

Per problem with a gold answer: sample ``num_solutions`` solutions (assistant prefilled ``Step 1:``), grade them, and
keep the problem when at least one is right and one is wrong. From every step prefix of one right and of every wrong
solution, roll out ``rollouts`` continuations and count how many reach the gold answer. The first-error rule
(:func:`first_error_label`) turns those counts into a 0-based ``label0``:

* a wrong solution gets ``label0 = j`` for the first prefix ``j`` (0-based step) whose count is ``<= low_max``,
  provided every earlier prefix has ``>= high_min``; a count in between before that point makes it ambiguous
  (dropped);
* a right solution keeps ``-1`` only when every prefix has ``>= high_min`` (else dropped: it may be right by luck);
* the full solution is not rolled out: its value is its own grade (``rollouts`` if right, 0 if wrong), so a wrong
  solution whose every proper prefix stays high is labelled at its last step.

The generator prompt is our wording, or a ``generator_template`` file (``{problem}``) with a system message given as
text (``generator_system_prompt``) or read from a file (``generator_system_prompt_file``); the assistant turn is
prefilled with ``Step 1:`` either way. Reference settings (DeepCritic's ``scripts/run_rollout.sh``): solutions at
temperature 1.0 with 2048 tokens, rollouts at 0.7 / top-p 0.9 with 4096 tokens (``rollout_max_tokens``).

Problems are deduplicated against every evaluation set found in the data directory (by
:func:`critic.data.normalize_problem`) before anything is generated; the overlap count goes to ``stats.json``.

Problems stream through a window of sequences sized for the engine (:mod:`critic.jobs`): a problem's solutions are
one request, its rollouts one request per prefix, all in flight together, and its row is written the moment its last
rollout is back. Outputs in ``output_dir``: ``results.jsonl`` (one row per problem: the resume point; a problem the
engine refuses is a final error row, ``--retry-errors`` reruns it), ``labels.jsonl`` (the
:class:`~critic.records.LabeledSolution` rows that seed synthesis and RL read, plus the counts as
``mc_right_counts``, in problem order), ``stats.json`` and ``config.json``. A killed run continues with the problems
it had not finished; ``shard: i/N`` runs one part, ``deepcritic merge`` joins the parts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, model_validator

from critic.engines.base import ChatEngine, Sampling, check_generations
from critic.grading import grade_text
from critic.prompts import GeneratorPrompt, load_template
from critic.records import NO_ERROR, LabeledSolution, Problem
from training.inputs import resolve_path
from training.pipeline import PipelineConfig, ordered_best_rows, process_pending, write_run_config

logger = logging.getLogger(__name__)

# Every evaluation set of the project: training problems must not overlap any of them.
EVAL_SETS = (
    "gsm8k-test",
    "math500",
    "math-test",
    "processbench-gsm8k",
    "processbench-math",
    "processbench-olympiadbench",
    "processbench-omnimath",
    "mr-gsm8k",
)


class MCLabelConfig(PipelineConfig):
    """Settings of ``deepcritic train mc-label`` (YAML keys = field names)."""

    problems: str = Field("gsm8k-train", description="critic.data dataset name, or a JSONL of problems with answers")
    output_dir: str = Field(description="results.jsonl, labels.jsonl and stats.json go here")
    generator: str = Field("embedded", description="engine spec (critic.engines.get_engine)")
    generator_template: str | None = Field(None, description="generator template file ({problem}); None = ours")
    generator_system_prompt: str | None = Field(
        None, description="generator system message; 'none' = none; None = ours with our wording, none with a template")
    generator_system_prompt_file: str | None = Field(
        None, description="file holding the generator system message (instead of generator_system_prompt)")
    limit: int | None = Field(None, ge=1, description="first N problems after decontamination")
    num_solutions: int = Field(8, ge=1, description="solutions sampled per problem")
    solve_temperature: float = Field(1.0, ge=0.0)
    solve_max_tokens: int = Field(512, ge=1)
    rollouts: int = Field(8, ge=1, description="k continuations per step prefix")
    rollout_temperature: float = Field(0.7, ge=0.0)
    rollout_top_p: float = Field(0.9, gt=0.0, le=1.0)
    rollout_max_tokens: int = Field(512, ge=1, description="tokens per rollout (reference: 4096)")
    high_min: int = Field(4, ge=1, description="a prefix is 'still right' with at least this many right rollouts")
    low_max: int = Field(0, ge=0, description="a prefix is 'already wrong' with at most this many right rollouts")
    require_mixed: bool = Field(True, description="keep only problems with >= 1 right and >= 1 wrong solution")
    max_steps: int = Field(12, ge=1, description="skip longer solutions (rollout cost grows with the step count)")
    seed: int | None = Field(0, description="sampling seed (None = unseeded)")
    decontaminate: bool = Field(True, description="drop problems that appear in an evaluation set")
    eval_sets: list[str] = Field(default_factory=lambda: list(EVAL_SETS), description="eval sets to dedup against")

    @model_validator(mode="after")
    def _rule_is_consistent(self) -> MCLabelConfig:
        if not self.low_max < self.high_min <= self.rollouts:
            raise ValueError(
                f"need low_max < high_min <= rollouts, got {self.low_max}, {self.high_min}, {self.rollouts}"
            )
        if self.generator_system_prompt is not None and self.generator_system_prompt_file is not None:
            raise ValueError("give generator_system_prompt or generator_system_prompt_file, not both")
        return self

    def generator_prompt(self) -> GeneratorPrompt:
        """The solver prompt (reads the template and system prompt files; one-line error when unusable)."""
        system = self.generator_system_prompt
        if self.generator_system_prompt_file is not None:
            path = resolve_path(self.generator_system_prompt_file)
            try:
                system = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise ValueError(f"generator system prompt {path}: cannot be read ({type(e).__name__})") from None
        return GeneratorPrompt(load_template(self.generator_template, "generator"), system)

    def check_files(self) -> None:
        """Read the generator template and system prompt so a bad one fails before any work (TemplateError /
        ValueError, one line)."""
        self.generator_prompt()


def first_error_label(
    right_counts: list[int], solution_right: bool, high_min: int, low_max: int
) -> tuple[int | None, str]:
    """The explicit first-error rule (module docstring). ``right_counts[j]`` = right rollouts from the prefix ending
    at step j (0-based, the last entry being the solution's own value). Returns ``(label0, reason)``, label0 None when
    the solution is dropped."""
    if solution_right:
        if all(c >= high_min for c in right_counts):
            return NO_ERROR, "right"
        return None, "right_with_low_prefix"
    for j, count in enumerate(right_counts):
        if count <= low_max:
            return j, "first_low_prefix"
        if count < high_min:
            return None, "ambiguous_prefix"
    return None, "no_low_prefix"


@dataclass
class Sampled:
    """One graded generator solution."""

    steps: list[str]
    right: bool


def load_problems(name: str) -> list[Problem]:
    """Problems with gold answers from a known name or a file (``recipes/...`` paths resolved); ValueError when none
    has a gold answer."""
    from critic.data import load_dataset_by_name

    local = resolve_path(name)
    rows = load_dataset_by_name(str(local) if local.is_file() else name)
    problems = [r for r in rows if isinstance(r, Problem) and r.answer]
    if not problems:
        raise ValueError(f"{name}: no problems with gold answers")
    return problems


def eval_problem_keys(names: list[str]) -> tuple[set[str], list[str], list[str]]:
    """Normalised problem texts of the evaluation sets; also which sets were found and which were not."""
    from critic.data import load_dataset_by_name, normalize_problem

    keys: set[str] = set()
    found, missing = [], []
    for name in names:
        try:
            rows = load_dataset_by_name(name)
        except (FileNotFoundError, ValueError) as exc:
            logger.warning("decontamination: %s not available (%s)", name, exc)
            missing.append(name)
            continue
        keys.update(normalize_problem(r.problem) for r in rows)
        found.append(name)
    return keys, found, missing


def _solve_chat(problem: str, kept_steps: list[str], prompt: GeneratorPrompt | None = None) -> list[dict[str, str]]:
    """The generator prompt continuing after ``kept_steps`` (none = from ``Step 1:``)."""
    from critic.prompts import refine_prefix

    chat = (prompt or GeneratorPrompt()).messages(problem)
    return chat[:-1] + [{"role": "assistant", "content": refine_prefix(kept_steps)}]


async def _sample_solutions(engine: ChatEngine, problem: Problem, cfg: MCLabelConfig,
                            prompt: GeneratorPrompt) -> dict:
    """Stage 1: sample and grade one problem's solutions: the usable ones and why the others were dropped."""
    from critic.steps import split_steps

    sampling = Sampling(
        n=cfg.num_solutions, temperature=cfg.solve_temperature, max_tokens=cfg.solve_max_tokens, seed=cfg.seed
    )
    chat = _solve_chat(problem.problem, [], prompt)
    generations = check_generations(await engine.agenerate(chat, sampling))
    usable: list[Sampled] = []
    dropped: Counter[str] = Counter()
    seen: set[tuple[str, ...]] = set()
    for generation in generations:
        text = chat[-1]["content"] + generation
        steps = split_steps(text)
        predicted, right = await asyncio.to_thread(grade_text, text, problem.answer or "")
        reason = (
            "unfinished" if generation.finish_reason != "stop"
            else "no_answer" if predicted is None
            else "no_steps" if not steps
            else "too_many_steps" if len(steps) > cfg.max_steps
            else "duplicate" if tuple(steps) in seen
            else None
        )
        if reason:
            dropped[reason] += 1
            continue
        seen.add(tuple(steps))
        usable.append(Sampled(steps=steps, right=right))
    return {"usable": usable, "dropped": dict(dropped)}


async def _rollout_count(engine: ChatEngine, problem: Problem, prefix: list[str], cfg: MCLabelConfig,
                         prompt: GeneratorPrompt) -> int:
    """Stage 2: right continuations out of ``rollouts`` from one step prefix."""
    sampling = Sampling(
        n=cfg.rollouts,
        temperature=cfg.rollout_temperature,
        top_p=cfg.rollout_top_p,
        max_tokens=cfg.rollout_max_tokens,
        seed=cfg.seed,
    )
    chat = _solve_chat(problem.problem, prefix, prompt)
    generations = check_generations(await engine.agenerate(chat, sampling))
    graded = [await asyncio.to_thread(grade_text, chat[-1]["content"] + g, problem.answer or "") for g in generations]
    return sum(right for _, right in graded)


async def label_problem(engine: ChatEngine, problem: Problem, cfg: MCLabelConfig,
                        prompt: GeneratorPrompt | None = None) -> dict:
    """Label one problem: its result row (labelled solutions and what was dropped). Every rollout of the problem is in
    flight at once (the engine window bounds them). ``prompt``: the config's generator prompt, built once by callers
    that have it."""
    prompt = prompt or cfg.generator_prompt()
    found = await _sample_solutions(engine, problem, cfg, prompt)
    usable: list[Sampled] = found["usable"]
    right = [s for s in usable if s.right]
    wrong = [s for s in usable if not s.right]
    mixed = bool(right) and bool(wrong)
    status = "no_usable" if not usable else "labelled" if mixed or not cfg.require_mixed else "not_mixed"
    row = {
        "id": problem.id,
        "error": None,
        "status": status,
        "sampled": cfg.num_solutions,
        "usable": len(usable),
        "right": len(right),
        "dropped": found["dropped"],
        "solutions": [],
        "rejected": [],
    }
    if status != "labelled":
        return row
    selected = list(enumerate(right[:1] + wrong))
    # Proper prefixes only; the full solution's value is its own grade.
    counts = await asyncio.gather(*(_rollout_count(engine, problem, s.steps[:n], cfg, prompt)
                                    for _, s in selected for n in range(1, len(s.steps))))
    counts_iter = iter(counts)
    for j, solution in selected:
        right_counts = [next(counts_iter) for _ in range(len(solution.steps) - 1)]
        right_counts.append(cfg.rollouts if solution.right else 0)
        label0, reason = first_error_label(right_counts, solution.right, cfg.high_min, cfg.low_max)
        solution_id = f"{problem.id}/s{j}"
        if label0 is None:
            row["rejected"].append({"id": solution_id, "reason": reason, "mc_right_counts": right_counts})
            continue
        labelled = LabeledSolution(
            id=solution_id,
            problem=problem.problem,
            steps=solution.steps,
            answer=problem.answer,
            generator=cfg.generator,
            label0=label0,
            subset=problem.source,
            final_answer_correct=solution.right,
        )
        row["solutions"].append(labelled.model_dump() | {"mc_right_counts": right_counts, "mc_rollouts": cfg.rollouts})
    return row


CONFIG_TYPE = MCLabelConfig


def select_problems(cfg: MCLabelConfig) -> tuple[list[Problem], dict]:
    """The problems a run works on (decontaminated, ``limit``, then ``shard``) and the contamination report."""
    from critic.data import normalize_problem
    from critic.io import select_shard

    problems = load_problems(cfg.problems)
    overlap: list[str] = []
    found, missing = [], []
    if cfg.decontaminate:
        keys, found, missing = eval_problem_keys(cfg.eval_sets)
        overlap = [p.id for p in problems if normalize_problem(p.problem) in keys]
        dropped = set(overlap)
        problems = [p for p in problems if p.id not in dropped]
    if cfg.limit is not None:
        problems = problems[: cfg.limit]
    contamination = {"overlap": len(overlap), "overlap_ids": overlap[:50], "checked": found, "missing": missing}
    return select_shard(problems, cfg.shard, key=lambda p: p.id), contamination


def run_mc_labels(cfg: MCLabelConfig, engine: ChatEngine | None = None, retry_errors: bool = False) -> dict:
    """Run (or resume) Monte-Carlo labelling; returns the stats also written to ``stats.json`` (``errors`` = problems
    whose row is an error row). Raises EngineDead when the engine dies (rerun to resume), OutputLocked when another
    run holds ``output_dir``."""
    from critic.io import hold

    out = Path(cfg.output_dir)
    problems, contamination = select_problems(cfg)  # a bad input fails before the output folder exists
    prompt = cfg.generator_prompt()
    out.mkdir(parents=True, exist_ok=True)
    with hold(out, folder=True):
        write_run_config(out, "mc-label", cfg)
        process_pending(problems, out, lambda eng, problem: label_problem(eng, problem, cfg, prompt), engine,
                        cfg.generator, "mc-label", engine_args=cfg.engine_args.get("generator"), window=cfg.window,
                        per_item=cfg.num_solutions, retry_errors=retry_errors)
        return build_outputs(out, [p.id for p in problems], cfg, contamination)


def rebuild(cfg: MCLabelConfig, folders: list[Path], ids: list[str]) -> dict:
    """Labels and stats of a merged folder (``deepcritic merge``), in problem order when the problems still load."""
    try:
        order = [p.id for p in load_problems(cfg.problems)]
    except (FileNotFoundError, ValueError):
        order = []
    position = {problem_id: i for i, problem_id in enumerate(order)}
    merged = {problem_id: i for i, problem_id in enumerate(ids)}
    ordered = sorted(ids, key=lambda i: (position.get(i, len(position)), merged[i]))
    stats = json.loads((folders[0] / "stats.json").read_text()) if (folders[0] / "stats.json").is_file() else {}
    return build_outputs(Path(cfg.output_dir), ordered, cfg, stats.get("contamination", {}))


def build_outputs(out: Path, ordered_ids: list[str], cfg: MCLabelConfig, contamination: dict) -> dict:
    """Build ``labels.jsonl`` and ``stats.json`` from ``results.jsonl`` (the resume rule of critic.io: per problem the
    last row that is not an error row), in the order of ``ordered_ids``."""
    from critic.io import atomic_write_json, atomic_write_jsonl

    results, errors = ordered_best_rows(out, ordered_ids)
    rows = {row["id"]: row for row in results}
    labels = [s for row in rows.values() for s in row["solutions"]]
    atomic_write_jsonl(out / "labels.jsonl", labels)

    dropped: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for row in rows.values():
        dropped.update(row["dropped"])
        rejected.update(r["reason"] for r in row["rejected"])
    stats = {
        "problems": len(ordered_ids),
        "problems_done": len(rows) + errors,
        "errors": errors,
        "problem_status": dict(Counter(row["status"] for row in rows.values())),
        "solutions_sampled": sum(row["sampled"] for row in rows.values()),
        "solutions_usable": sum(row["usable"] for row in rows.values()),
        "solutions_right": sum(row["right"] for row in rows.values()),
        "solutions_dropped": dict(dropped),
        "labelled": len(labels),
        "labelled_all_correct": sum(s["label0"] == NO_ERROR for s in labels),
        "labelled_with_error": sum(s["label0"] != NO_ERROR for s in labels),
        "rejected_by_rule": dict(rejected),
        "rule": {"rollouts": cfg.rollouts, "high_min": cfg.high_min, "low_max": cfg.low_max},
        "require_mixed": cfg.require_mixed,
        "contamination": contamination,
        "prompts": {"generator": cfg.generator_prompt().record()},
    }
    atomic_write_json(out / "stats.json", stats, sort_keys=True)
    return stats

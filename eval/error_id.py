"""Error identification: does a critic find the first wrong step of a step-labelled solution?

A critic is any engine spec (``get_engine``) prompted with the deliberate critic prompt (1-based steps,
``parse_critique``) or the ProcessBench-style prompt (0-based paragraphs, ``parse_processbench``), or ``sympy``: the
non-LLM baseline whose prediction is the first step :func:`critic.verify.check_steps` proves wrong (else -1).

Decoding: ``greedy`` (one sample at temperature 0), ``sample`` (k samples, pass@1 = mean correctness over them) or
``maj`` (k samples, majority vote over the readable ones; unreadable ones do not vote).

Protocols (:mod:`critic.protocol`): ``protocol: deepcritic | processbench`` sets the reference protocol's decoding,
answer extraction, vote filter, step tagging and index base (``ours`` is the default); any field given explicitly
overrides the preset. The critic prompt is our wording or a template file (``prompt_template``) with a system message
of ours, a given text or none (``system_prompt``), built by :func:`critic_prompt`; ``config.json`` records the
template's sha256 and the first rendered prompt.

The run streams its requests through a window sized for the engine (:mod:`critic.jobs`: k samples of one solution
are one request taking k slots) and writes ``predictions.jsonl``, one row per solution, the moment each critique is
back; it resumes from it. A solution the engine refuses (e.g. longer than the model's context) is a final error row
(``status: "error"``, ``error`` names the cause; it counts as an unreadable prediction in the metrics); a dead engine
stops the run for a rerun to resume. Then ``metrics.json``, ``report.md`` and ``f1.png`` (see :mod:`eval.report`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Hashable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from critic.configs import StrictConfig
from critic.data import PROCESSBENCH_SUBSETS, load_dataset_by_name
from critic.engines.base import ChatEngine, Sampling, check_generations
from critic.guided import CriticFormat, guided_sampling
from critic.io import JsonlWriter, ShardSpec, done_ids, read_best_rows, select_shard
from critic.jobs import WindowedEngine, error_text, item_workers, progress_bar, run_sync, stream
from critic.parse import parse_critique, parse_processbench
from critic.prompts import CriticPrompt, CriticStyle
from critic.protocol import (
    PROTOCOLS,
    Decoding,
    Extraction,
    ProtocolName,
    VoteFilter,
    has_answer_marker,
    parse_reference,
    reference_box,
)
from critic.records import Critique, LabeledSolution, StepCheck, first_sympy_finding
from critic.steps import StepTagging, label0_to_step1
from eval import rundir
from eval.metrics import error_id_metrics, filter_votes, vote_winner
from eval.reference import ReferenceNumbers
from eval.report import write_error_id_report
from eval.results import ErrorIdSummary

PREDICTIONS = "predictions.jsonl"
SYMPY_CRITIC = "sympy"
# Names that expand to several data sets.
DATA_GROUPS = {"processbench": [f"processbench-{s}" for s in PROCESSBENCH_SUBSETS]}
# Our answer readers per prompt style: (text, number of steps, finish reason) -> Critique.
READERS: dict[str, Callable[[str, int, str], Critique]] = {
    "deliberate": parse_critique,
    "processbench": parse_processbench,
}


class ErrorIdConfig(StrictConfig):
    """Everything that decides an error-identification run's results (written to ``config.json``).

    Fields a ``protocol`` preset sets (prompt, step_tagging, system_prompt, extraction, vote_filter, decoding, k,
    temperature, top_p, max_tokens, seed) take the preset's value unless given explicitly.
    """

    kind: Literal["error-id"] = "error-id"
    critic: str = Field("embedded", description="engine spec for get_engine, or 'sympy' for the SymPy-only baseline",
                        json_schema_extra={"metavar": "SPEC"})
    data: list[str] = Field(default_factory=lambda: ["processbench"], json_schema_extra={"metavar": "NAME|PATH"},
                            description="data set name or ProcessBench/PRM800K-format file (repeatable)")
    protocol: ProtocolName = Field("ours", description="preset: ours, deepcritic or processbench (critic.protocol)")
    prompt: CriticStyle = Field(
        "deliberate", description="deliberate: 1-based Step i; processbench: 0-based <paragraph_i> blocks")
    prompt_template: str | None = Field(
        None, description="critic template file ({problem}, {tagged_response}, str.format); None = our wording",
        json_schema_extra={"metavar": "FILE"})
    system_prompt: str | None = Field(
        None, description="system message text, 'none' for no system message; None = ours with our wording",
        json_schema_extra={"metavar": "TEXT|none"})
    step_tagging: StepTagging = Field("startswith", description="Step i: prefix unless the step startswith / "
                                                                "contains it (contains = DeepCritic's rule)")
    extraction: Extraction = Field("ours", description="ours (critic.parse) or reference (last \\boxed{} -> int)")
    vote_filter: VoteFilter = Field("none", description="answer_marker: only critiques with **Answer**: vote (maj)")
    decoding: Decoding = Field(
        "greedy", description="greedy, sample = pass@1 over k samples, maj = maj@k (unparsed critiques do not vote)")
    k: int = Field(1, ge=1, description="samples per solution (sample / maj)")
    temperature: float = Field(0.0, ge=0.0, description="critic temperature (a protocol preset may set it)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling top_p (a protocol preset may set it)")
    max_tokens: int = Field(2048, ge=1, description="critique token limit (a protocol preset may set it)")
    critic_format: CriticFormat = Field(
        "free", description="guided: the engine holds each critique to the trained format (critic.guided); presets "
                            "leave it free")
    limit: int | None = Field(None, ge=1, description="solutions per data set (a seeded random subset)")
    seed: int | None = Field(0, description="seed for limit subsets and sampling")
    shard: ShardSpec = Field(None, description="i/N: only the solutions of shard i of N (stable hash of the key)")
    window: int | None = Field(None, ge=1, description="sequences in flight (default: sized for the engine); "
                                                       "does not change results")
    engine_args: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                   description="engine options per role: {critic: {...}}")
    name: str | None = Field(None, description="label for reports")

    @model_validator(mode="before")
    @classmethod
    def _apply_protocol(cls, data: Any) -> Any:
        """Fill the fields the protocol preset sets and that were not given (explicit values win)."""
        if not isinstance(data, dict) or data.get("protocol", "ours") not in PROTOCOLS:
            return data  # field validation reports a bad protocol name
        if data.get("critic") == SYMPY_CRITIC:
            return data  # the SymPy baseline reads no prompt and decodes nothing
        preset = PROTOCOLS[data.get("protocol", "ours")]
        mode = data.get("decoding")
        if mode is not None and mode not in preset.modes:  # e.g. greedy under deepcritic, sample under processbench
            defined: dict[str, Any] = {"decoding": mode, "k": 1}
            if mode == "greedy":
                defined["temperature"] = 0.0
            elif "temperature" not in data:
                raise ValueError(f"protocol {preset.name} has no {mode} decoding (it has {', '.join(preset.modes)}); "
                                 "give a temperature (and k) to define one")
            merged = {**preset.fields(), **defined, **data}
        else:
            merged = {**preset.fields(mode), **data}
        if merged.get("prompt") == "processbench" and "step_tagging" not in data:
            merged["step_tagging"] = "startswith"  # paragraphs carry no Step i: prefix; the preset's rule is moot
        return merged

    @model_validator(mode="after")
    def _consistent(self) -> ErrorIdConfig:
        if self.decoding == "greedy" and (self.k != 1 or self.temperature != 0.0):
            raise ValueError("greedy decoding means k=1 and temperature 0; use --decoding sample or maj for more")
        if self.decoding != "greedy" and self.temperature == 0.0:
            raise ValueError(f"--decoding {self.decoding} needs a temperature > 0 (k identical samples otherwise)")
        if self.critic == SYMPY_CRITIC and self.decoding != "greedy":
            raise ValueError("the SymPy baseline is deterministic: use greedy decoding")
        if self.prompt == "processbench" and self.step_tagging != "startswith":
            raise ValueError("step_tagging applies to the deliberate prompt (processbench tags <paragraph_i> blocks)")
        if self.critic == SYMPY_CRITIC and self.engine_args:
            raise ValueError("the SymPy baseline runs no engine: drop engine_args / --critic-args")
        if self.critic_format == "guided" and (self.prompt != "deliberate" or self.critic == SYMPY_CRITIC):
            raise ValueError("critic_format guided holds an engine's critique to the deliberate format: it needs "
                             "prompt deliberate and an engine critic")
        return self

    @property
    def sampling(self) -> Sampling:
        """The critic's decoding: ``k`` samples per solution at ``temperature`` / ``top_p``, at most ``max_tokens``
        tokens each, seeded."""
        return Sampling(n=self.k, temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens,
                        seed=self.seed)


CONFIG_TYPE = ErrorIdConfig
# Keys that do not change results: a resumed run may change them.
RESUMABLE_KEYS = rundir.RUN_ONLY_KEYS


def critic_prompt(config: ErrorIdConfig) -> CriticPrompt:
    """The critic prompt of a run (loads and checks ``prompt_template``; TemplateError in one line)."""
    return CriticPrompt.from_settings(config.prompt, config.prompt_template, config.system_prompt, config.step_tagging)


def critique_reader(config: ErrorIdConfig) -> Callable[[str, int, str], Critique]:
    """How answers are read: our parser for the prompt style, or the reference rule in the prompt's index base."""
    if config.extraction == "reference":
        return partial(parse_reference, index_base=1 if config.prompt == "deliberate" else 0)
    return READERS[config.prompt]


def vote_keys(config: ErrorIdConfig, texts: Sequence[str], critiques: Sequence[Critique]) -> list[Hashable | None]:
    """What each sample votes for in maj@k: its 0-based prediction (ours) or its last box's string (reference,
    where an unreadable box still votes), None for no vote; then the vote filter (``answer_marker``)."""
    if config.extraction == "reference":
        votes: list[Hashable | None] = [reference_box(t) for t in texts]
    else:
        votes = [c.first_wrong_label0 for c in critiques]
    if config.vote_filter == "answer_marker":
        votes = filter_votes(votes, [has_answer_marker(t) for t in texts])
    return votes


def expand_data(names: list[str]) -> list[str]:
    """Data names with groups expanded (``processbench`` -> its four subsets), duplicates dropped, order kept."""
    out: list[str] = []
    for name in names:
        for item in DATA_GROUPS.get(name, [name]):
            if item not in out:
                out.append(item)
    return out


def load_samples(config: ErrorIdConfig) -> list[tuple[str, LabeledSolution]]:
    """``(key, sample)`` for every data set (``limit`` per data set, then ``shard``); key = ``subset/id`` (unique
    across data sets)."""
    def items():
        for name in expand_data(config.data):
            for row in load_dataset_by_name(name, limit=config.limit, seed=config.seed):
                if not isinstance(row, LabeledSolution):
                    raise ValueError(f"{name} has no step labels (it loads as {type(row).__name__}); error-id needs "
                                     "ProcessBench, MR-GSM8K or PRM800K-format data")
                if row.subset is None:
                    row = row.model_copy(update={"subset": Path(name).stem})
                yield f"{row.subset}/{row.id}", name, row

    samples = rundir.keyed_items(items())
    return select_shard(list(samples.items()), config.shard, key=lambda item: item[0])


def prediction_row(key: str, sample: LabeledSolution, critiques: list[Critique], decoding: str, tokens: int,
                   votes: Sequence[Hashable | None] | None = None, **extra) -> dict:
    """One predictions.jsonl row. ``pred_label0`` is the run's decision: the greedy prediction, the majority vote
    (maj, over ``votes`` when given: see :func:`eval.metrics.vote_winner`), or the first sample's (sample; metrics
    then use every sample in ``preds``)."""
    preds = [c.first_wrong_label0 for c in critiques]
    if decoding == "maj":
        pred = vote_winner(preds, votes)
        chosen = next((c for c in critiques if pred is not None and c.first_wrong_label0 == pred), critiques[0])
    else:
        pred, chosen = preds[0], critiques[0]
    row = {
        "key": key,
        "id": sample.id,
        "subset": sample.subset,
        "label0": sample.label0,
        "pred_label0": pred,
        "pred_step1": None if pred is None else label0_to_step1(pred),
        "status": "ok" if pred is not None else chosen.status,
        "correct": pred == sample.label0,
        "preds": preds,
        "statuses": [c.status for c in critiques],
        "tokens": tokens,
        "critique": chosen.raw,
        "error": None,
        **extra,
    }
    if votes is not None and decoding == "maj":
        row["votes"] = list(votes)
    if len(critiques) > 1:
        row["samples"] = [c.raw for c in critiques]
    return row


def error_prediction_row(key: str, sample: LabeledSolution, k: int, exc: BaseException) -> dict:
    """The final row of a solution that could not be critiqued (e.g. the engine refused it): its ``error`` names the
    cause; its predictions are unreadable, so metrics count it as wrong (and list it under ``errors``)."""
    return {"key": key, "id": sample.id, "subset": sample.subset, "label0": sample.label0, "pred_label0": None,
            "pred_step1": None, "status": "error", "correct": False, "preds": [None] * k, "statuses": ["error"] * k,
            "tokens": 0, "critique": "", "error": error_text(exc)}


def describe_checks(checks: list[StepCheck]) -> str:
    """The SymPy baseline's 'critique': every contradiction with its evidence, then how many steps it could check."""
    lines = []
    for c in checks:
        for ev in c.evidence:
            if not ev.ok:
                stated = f" (step states {ev.stated})" if ev.stated is not None else ""
                lines.append(f"Step {c.step1}: {ev.claim} is false: the left side is {ev.expected}{stated}")
    checked = sum(c.verdict != "unchecked" for c in checks)
    lines.append(f"SymPy checked {checked} of {len(checks)} steps.")
    return "\n".join(lines)


def sympy_critique(sample: LabeledSolution) -> tuple[Critique, list[StepCheck]]:
    """The SymPy-only baseline's critique of one solution: the first step the tool proves wrong (1-based, else -1) and
    the checks behind it."""
    from critic.verify import check_steps  # the SymPy tool loads sympy; only this baseline needs it

    checks = check_steps(sample.problem, sample.steps)
    first = first_sympy_finding(checks)
    return Critique(status="ok", first_wrong_step1=first, raw=describe_checks(checks)), checks


def run_error_id(config: ErrorIdConfig, out_dir: str | Path, engine: ChatEngine | None = None,
                 progress: bool = True, retry_errors: bool = False,
                 reference: ReferenceNumbers | None = None) -> ErrorIdSummary:
    """Run (or resume) an error-identification evaluation into ``out_dir``; returns the metrics
    (:class:`~eval.results.ErrorIdSummary`).

    ``engine`` overrides ``config.critic``'s engine (tests pass a fake). Samples already in predictions.jsonl are
    skipped (error rows too, unless ``retry_errors``); the engine is built only when something is left to do.
    ``reference``: published numbers the report and plot compare with (like with like: averages over the subsets
    both sides have). Raises :class:`~critic.engines.base.EngineDead` when the engine dies (rerun to resume) and
    :class:`~critic.io.OutputLocked` when another run holds ``out_dir``.
    """
    samples = load_samples(config)
    record = None
    if config.critic != SYMPY_CRITIC and samples:
        prompt = critic_prompt(config)
        first = samples[0][1]
        record = {"critic": prompt.record() | {"first_prompt": prompt.messages(first.problem, first.steps)}}
    with rundir.open_run(out_dir, config, ignore=RESUMABLE_KEYS, prompts=record) as out_dir:
        pred_path = out_dir / PREDICTIONS
        done = done_ids(read_best_rows(pred_path, "key"), retry_errors)
        todo = [(key, s) for key, s in samples if key not in done]
        if todo:
            with JsonlWriter(pred_path) as writer, progress_bar(len(todo), f"error-id {config.critic}", "sol",
                                                                progress) as bar:
                if config.critic == SYMPY_CRITIC:
                    run_sync(_stream(todo, _sympy_row, writer, bar, workers=1, k=1))
                else:
                    run_sync(_run_engine(config, todo, engine or critic_engine(config), writer, bar))
        return finish(config, out_dir, keys={key for key, _ in samples}, reference=reference)


def finish(config: ErrorIdConfig, out_dir: Path, keys: Collection[str] | None = None,
           reference: ReferenceNumbers | None = None) -> ErrorIdSummary:
    """Metrics and report from the folder's predictions (of ``keys``, or all): ``metrics.json``, ``report.md``
    (compared with ``reference`` numbers when given)."""
    rows = [row for key, row in read_best_rows(out_dir / PREDICTIONS, "key").items() if keys is None or key in keys]
    metrics = ErrorIdSummary.model_validate(error_id_metrics(rows, decoding=config.decoding))
    return rundir.finish_with(out_dir, metrics, partial(write_error_id_report, reference=reference))


def critic_engine(config: ErrorIdConfig) -> ChatEngine:
    """The configured critic engine with its ``engine_args``."""
    from critic.engines import get_engine

    return get_engine(config.critic, **config.engine_args.get("critic", {}))


async def _sympy_row(item: tuple[str, LabeledSolution]) -> dict:
    key, sample = item
    start = time.perf_counter()
    critique, checks = sympy_critique(sample)  # CPU-bound and time-boxed; one at a time
    checked = sum(c.verdict != "unchecked" for c in checks)
    return prediction_row(key, sample, [critique], "greedy", 0, checked_steps=checked, total_steps=len(checks),
                          seconds=round(time.perf_counter() - start, 4))


async def _stream(todo, process, writer: JsonlWriter, bar, *, workers: int, k: int) -> None:
    await stream(todo, process, writer, workers=workers,
                 error_row=lambda item, exc: error_prediction_row(item[0], item[1], k, exc),
                 on_row=lambda row: bar.update(1))


def critic_chat(config: ErrorIdConfig, sample: LabeledSolution,
                prompt: CriticPrompt | None = None) -> list[dict[str, str]]:
    """The critic prompt for one solution (``prompt``: :func:`critic_prompt` of the config, built once by callers
    that have it)."""
    return (prompt or critic_prompt(config)).messages(sample.problem, sample.steps)


async def _run_engine(config: ErrorIdConfig, todo: list[tuple[str, LabeledSolution]], engine: ChatEngine,
                      writer: JsonlWriter, bar) -> None:
    prompt, parse = critic_prompt(config), critique_reader(config)
    sampling = config.sampling
    view = WindowedEngine(engine, config.window)  # k samples of a solution are one request taking k slots
    guided = config.critic_format == "guided"

    async def critique(item: tuple[str, LabeledSolution]) -> dict:
        key, sample = item
        # guided: each solution's own format (critic.guided), since the step count sets the constraint
        params, held = guided_sampling(sampling, len(sample.steps)) if guided else (sampling, None)
        generations = check_generations(await view.agenerate(critic_chat(config, sample, prompt), params))
        critiques = [parse(str(g), len(sample.steps), g.finish_reason) for g in generations]
        votes = vote_keys(config, [str(g) for g in generations], critiques)
        tokens = sum(getattr(g, "num_tokens", 0) for g in generations)
        finish_reasons = [g.finish_reason for g in generations]
        extra = {}
        if held is not None:  # False: the engine did not hold that sample to the format
            extra["guided_held"] = [held.held(str(g), g.finish_reason) for g in generations]
        return prediction_row(key, sample, critiques, config.decoding, tokens, votes=votes,
                              finish_reasons=finish_reasons, **extra)

    await _stream(todo, critique, writer, bar, workers=item_workers(view.window.capacity, config.k), k=config.k)

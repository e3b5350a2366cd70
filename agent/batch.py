"""Batch refinement: run the loop over many existing solutions at once and write one JSONL row per input.

Each input row has ``id``, ``problem`` and either ``steps`` (a list) or a raw ``response`` (split into steps), and
optionally a gold ``answer``. The loop starts at ``check`` on that solution; a row with neither ``steps`` nor
``response`` is solved from scratch (starts at ``generate``).

Graphs run concurrently on one event loop (:func:`critic.jobs.stream`), as many as the engines serve at once
(:func:`critic.jobs.engine_window` of each distinct engine; ``concurrency`` overrides it), so a batching engine is
always full. Each finished row is appended, flushed and fsynced at once; the run holds the output against a second
writer (:func:`critic.io.hold`). A rerun skips ids already in the output (the resume rule of :mod:`critic.io`), so a
killed run loses at most the rows in flight and never writes an id twice. A row that fails through its own fault
(malformed input, a request the engine refuses) becomes a final error row ``{"id", "error", ...}`` and the batch goes
on (``retry_errors=True`` reruns those rows); a dead engine or unreachable server raises
:class:`~critic.engines.base.EngineDead` at once, with the rows in flight unwritten, for a rerun to resume.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agent.graph import LoopContext
from agent.solve import final_answer, make_context, run_loop
from critic.engines.base import ChatEngine, Sampling
from critic.grading import answers_match
from critic.guided import CriticFormat
from critic.io import (
    JsonlWriter,
    check_input_ids,
    count_error_rows,
    done_ids,
    hold,
    read_best_rows,
    read_rows_file,
    select_shard,
)
from critic.jobs import engine_window, error_text, progress_bar, run_sync, stream
from critic.prompts import CriticPrompt
from critic.records import SympyMode
from critic.steps import split_steps

Row = dict[str, Any]


class BatchSummary(BaseModel):
    """What one refine batch did (returned by :func:`refine_batch`; the CLI prints it as JSON). Counts are ids of this
    input (of this shard); ``correct_before`` / ``correct_after`` count rows with a gold answer (None when no row
    has one); tokens are generated tokens of this run; ``seconds`` is wall-clock time of this run."""

    out_path: str
    run_id: str
    total: int  # distinct ids in the input (of this shard)
    skipped: int  # already in the output (resume)
    done: int  # written by this run, error rows included
    errors: int  # error rows written by this run
    accepted: int
    error_rows: int = 0  # ids of this input whose row in the output is an error row, after this run
    correct_before: int | None = None  # rows with a gold answer whose initial / final answer matches it
    correct_after: int | None = None
    generator_tokens: int = 0
    critic_tokens: int = 0
    seconds: float = 0.0

    @property
    def rows_per_s(self) -> float:
        """Rows written per second of wall-clock time (0.0 before any time has passed)."""
        return self.done / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_s(self) -> float:
        """Generated tokens (generator + critic) per second of wall-clock time (0.0 before any time has passed)."""
        return (self.generator_tokens + self.critic_tokens) / self.seconds if self.seconds else 0.0

    @property
    def exit_code(self) -> int:
        """0 when every row of the input ended without error, 1 when some are error rows (critic.jobs)."""
        return 1 if self.error_rows else 0


class BadRow(ValueError):
    """An input row the loop cannot run (reported in its error row)."""


def load_rows(rows: str | Path | Iterable[Mapping[str, Any]]) -> list[Row]:
    """Rows from a JSONL/JSON file, a ``datasets`` folder, a dataset name (critic.data's names, else the HF hub),
    an HF ``Dataset`` or any iterable of dicts / pydantic records. A malformed JSONL line becomes a row that fails."""
    if isinstance(rows, (str, Path)):
        path = Path(rows)
        if path.is_file():
            return _read_file(path)
        if path.is_dir():
            import datasets

            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                loaded = loaded[_split_of(loaded)]
            return [dict(r) for r in loaded]
        return _load_named(str(rows))
    return [r.model_dump() if isinstance(r, BaseModel) else dict(r) if isinstance(r, Mapping)
            else {"_bad": f"row {i} is a {type(r).__name__}, not a mapping"} for i, r in enumerate(rows)]


def _read_file(path: Path) -> list[Row]:
    # A bad line becomes that row's error row (BadRow in parse_row), not a failure of the whole batch.
    return read_rows_file(path, on_bad=lambda number, message: {"id": f"{path.name}:{number}",
                                                                 "_bad": f"line {number}: {message}"})


def _split_of(dataset_dict) -> str:
    return "test" if "test" in dataset_dict else next(iter(dataset_dict))


def _load_named(name: str) -> list[Row]:
    from critic.data import KNOWN_DATASETS, load_dataset_by_name

    if name in KNOWN_DATASETS:
        return [r.model_dump() for r in load_dataset_by_name(name)]
    import datasets

    try:
        loaded = datasets.load_dataset(name)
    except Exception as e:  # hub unreachable, no such dataset: one clear line for the CLI
        raise FileNotFoundError(f"cannot load rows from {name!r}: not a file, a datasets folder, one of "
                                f"{', '.join(KNOWN_DATASETS)} or a loadable hub dataset ({type(e).__name__})") from e
    return [dict(r) for r in loaded[_split_of(loaded)]]


def parse_row(row: Mapping[str, Any]) -> tuple[str, list[str] | None, str | None]:
    """(problem, steps or None, gold answer or None) of one input row; :class:`BadRow` when unusable."""
    if "_bad" in row:
        raise BadRow(row["_bad"])
    problem = row.get("problem")
    if not isinstance(problem, str) or not problem.strip():
        raise BadRow("row has no 'problem' text")
    steps = row.get("steps")
    if steps is None and row.get("response") is not None:
        steps = row["response"]
    if isinstance(steps, str):
        steps = split_steps(steps)
    if steps is not None and (not isinstance(steps, list) or not all(isinstance(s, str) for s in steps)):
        raise BadRow("'steps' must be a list of strings")
    if steps is not None and not steps:
        raise BadRow("the solution has no steps")
    answer = row.get("answer")
    return problem, steps, None if answer is None else str(answer)


def _row_id(row: Mapping[str, Any], index: int) -> str:
    # A row without an id still gets a stable one (its position), so resume works for it too.
    return str(row["id"]) if row.get("id") is not None else f"#{index}"


async def _run_row(row: Row, row_id: str, ctx: LoopContext, run_id: str) -> Row:
    """The output row of one input row; raises on the row's own failure (its error row is written instead)."""
    problem, steps, gold = parse_row(row)
    result = await run_loop(problem, ctx, steps=steps)
    out: Row = {"id": row_id, "error": None, **result.model_dump(mode="json")}
    initial_steps = result.trace[0].steps if result.trace else result.steps
    out["initial_steps"] = initial_steps
    out["initial_answer"] = final_answer(initial_steps)
    out["gold"] = gold
    if gold is not None:
        # Grading may wait on a time-boxed worker process: off the event loop, so the other rows keep going.
        out["initial_correct"] = await asyncio.to_thread(answers_match, out["initial_answer"], gold)
        out["final_correct"] = await asyncio.to_thread(answers_match, result.answer, gold)
    return out | {"run_id": run_id, "finished_at": _now()}


def _error_row(row_id: str, exc: BaseException, run_id: str) -> Row:
    return {"id": row_id, "error": error_text(exc), "run_id": run_id, "finished_at": _now()}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


async def arefine_batch(
    rows: str | Path | Iterable[Mapping[str, Any]],
    out_path: str | Path,
    *,
    generator: ChatEngine | str | None = None,
    critic: ChatEngine | str | None = None,
    concurrency: int | None = None,
    max_rounds: int = 2,
    sympy: SympyMode = "veto",
    sampling: Sampling | None = None,
    critic_sampling: Sampling | None = None,
    overwrite: bool = False,
    limit: int | None = None,
    progress: bool = True,
    critic_prompt: CriticPrompt | None = None,
    critic_format: CriticFormat = "free",
    retry_errors: bool = False,
    shard: str | None = None,
    engine_args: Mapping[str, Mapping[str, Any]] | None = None,
) -> BatchSummary:
    """Async :func:`refine_batch`."""
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    inputs = [(_row_id(row, index), row) for index, row in enumerate(load_rows(rows))]
    # Output rows are keyed by id: an empty input or two rows with one id would silently write fewer rows.
    check_input_ids(((index, row_id) for index, (row_id, _) in enumerate(inputs, 1)),
                    str(rows) if isinstance(rows, (str, Path)) else "the input rows")
    if limit is not None:
        inputs = inputs[:limit]
    unique = select_shard(inputs, shard, key=lambda item: item[0])
    wanted = {row_id for row_id, _ in unique}
    out_path = Path(out_path)
    with hold(out_path):
        if overwrite and out_path.exists():
            out_path.unlink()
        out_path.touch()  # "wrote 0 rows to OUT" (e.g. a shard with no rows) leaves an OUT to read
        done = done_ids(read_best_rows(out_path), retry_errors)
        pending = [(row_id, row) for row_id, row in unique if row_id not in done]
        summary = BatchSummary(out_path=str(out_path), run_id=uuid.uuid4().hex[:12], total=len(unique),
                               skipped=len(unique) - len(pending), done=0, errors=0, accepted=0)
        if pending:
            ctx = make_context(generator, critic, max_rounds=max_rounds, sympy=sympy, sampling=sampling,
                               critic_sampling=critic_sampling, critic_prompt=critic_prompt,
                               critic_format=critic_format, engine_args=engine_args)
            await _run_pending(pending, out_path, summary, ctx, concurrency=concurrency, progress=progress)
        summary.error_rows = count_error_rows(read_best_rows(out_path), wanted)
    return summary


async def _run_pending(pending: list[tuple[str, Row]], out_path: Path, summary: BatchSummary, ctx: LoopContext, *,
                       concurrency: int | None, progress: bool) -> None:
    engines = {id(e): e for e in (ctx.generator, ctx.critic)}
    # A row has one request in flight at a time: as many rows as the engines serve at once keeps them full.
    workers = concurrency or sum(engine_window(e) for e in engines.values())
    gold_rows = before = after = 0
    bar = progress_bar(len(pending), f"refine ({summary.skipped} already done)" if summary.skipped else "refine",
                       "row", progress)

    def count(out: Row) -> None:
        nonlocal gold_rows, before, after
        summary.done += 1
        if out["error"] is not None:
            summary.errors += 1
        else:
            summary.accepted += out["accepted"]
            summary.generator_tokens += out["generator_tokens"]
            summary.critic_tokens += out["critic_tokens"]
            if out["gold"] is not None:
                gold_rows += 1
                before += out["initial_correct"]
                after += out["final_correct"]
        elapsed = bar.format_dict.get("elapsed") or 0.0
        tokens = summary.generator_tokens + summary.critic_tokens
        bar.set_postfix_str(f"{tokens / elapsed if elapsed else 0:.0f} tok/s, {summary.errors} errors", refresh=False)
        bar.update(1)

    try:
        with JsonlWriter(out_path) as writer:
            counts = await stream(
                pending,
                lambda item: _run_row(item[1], item[0], ctx, summary.run_id),
                writer,
                workers=min(workers, len(pending)),
                error_row=lambda item, exc: _error_row(item[0], exc, summary.run_id),
                on_row=count,
            )
    finally:
        bar.close()
    summary.seconds = counts.seconds
    if gold_rows:
        summary.correct_before, summary.correct_after = before, after


def refine_batch(
    rows: str | Path | Iterable[Mapping[str, Any]],
    out_path: str | Path,
    *,
    generator: ChatEngine | str | None = None,
    critic: ChatEngine | str | None = None,
    concurrency: int | None = None,
    max_rounds: int = 2,
    sympy: SympyMode = "veto",
    sampling: Sampling | None = None,
    critic_sampling: Sampling | None = None,
    overwrite: bool = False,
    limit: int | None = None,
    progress: bool = True,
    critic_prompt: CriticPrompt | None = None,
    critic_format: CriticFormat = "free",
    retry_errors: bool = False,
    shard: str | None = None,
    engine_args: Mapping[str, Mapping[str, Any]] | None = None,
) -> BatchSummary:
    """Critique and refine every row's solution; write one JSONL row per input id to ``out_path``; resume by id.

    See the module docstring for the row formats and failure semantics. ``concurrency``: rows in flight (default:
    sized for the engines); ``critic_prompt`` builds the critic's chat (default: our wording); ``critic_format``:
    ``free`` | ``guided`` (see :func:`agent.solve.solve_with_critic`); ``retry_errors``: rerun ids whose row is an
    error row; ``shard``: ``"i/N"``, only the ids of that shard (:class:`critic.io.Shard`); ``engine_args``: engine
    options per role (``generator`` / ``critic``) for engines given as specs, built only when some row is left to do.
    Returns a :class:`BatchSummary`; raises :class:`~critic.engines.base.EngineDead` when the engine dies (rows in
    flight unwritten, rerun to resume) and :class:`~critic.io.OutputLocked` when another run writes ``out_path``.
    """
    return run_sync(arefine_batch(rows, out_path, generator=generator, critic=critic, concurrency=concurrency,
                                  max_rounds=max_rounds, sympy=sympy, sampling=sampling,
                                  critic_sampling=critic_sampling, overwrite=overwrite, limit=limit,
                                  progress=progress, critic_prompt=critic_prompt, critic_format=critic_format,
                                  retry_errors=retry_errors, shard=shard, engine_args=engine_args))

"""Batch refinement: run the loop over many existing solutions at once and write one JSONL row per input.

Each input row has ``id``, ``problem`` and either ``steps`` (a list) or a raw ``response`` (split into steps), and
optionally a gold ``answer``. The loop starts at ``check`` on that solution; a row with neither ``steps`` nor
``response`` is solved from scratch (starts at ``generate``).

Up to ``concurrency`` graphs run at once on one event loop, so a batching engine always has that many requests in
flight. Each finished row is appended, flushed and fsynced at once; a rerun skips ids already in the output, so a
killed run loses at most the rows in flight and never writes an id twice. A failing row (malformed input, engine
error after the node's retries) becomes an error row ``{"id", "error", ...}`` and the batch goes on; error rows
count as done (rerun with ``overwrite=True`` to retry everything).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agent.graph import LoopContext
from agent.solve import final_answer, make_context, run_loop
from critic.data import JsonlWriter, read_done_ids
from critic.engines.base import ChatEngine, Sampling
from critic.grading import answers_match
from critic.prompts import CriticPrompt
from critic.steps import split_steps

Row = dict[str, Any]


class BatchSummary(BaseModel):
    out_path: str
    run_id: str
    total: int  # distinct ids in the input
    skipped: int  # already in the output (resume)
    done: int  # written by this run, error rows included
    errors: int
    duplicates: int  # input rows whose id appeared earlier in the input (not run)
    accepted: int
    correct_before: int | None = None  # rows with a gold answer whose initial / final answer matches it
    correct_after: int | None = None
    generator_tokens: int = 0
    critic_tokens: int = 0
    seconds: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_s(self) -> float:
        return (self.generator_tokens + self.critic_tokens) / self.seconds if self.seconds else 0.0


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
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        return [dict(r) for r in (data["rows"] if isinstance(data, dict) else data)]
    out: list[Row] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            row = {"_bad": f"line {number} is not JSON: {e}"}
        if not isinstance(row, dict):
            row = {"_bad": f"line {number} is not a JSON object"}
        out.append(row if "_bad" not in row else {"id": f"{path.name}:{number}", **row})
    return out


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
    stamp = {"run_id": run_id}
    try:
        problem, steps, gold = parse_row(row)
        result = await run_loop(problem, ctx, steps=steps)
    except Exception as e:  # any failure of this row becomes its error row; the batch goes on
        message = f"{type(e).__name__}: {e}".splitlines()[0]
        return {"id": row_id, "error": message, **stamp, "finished_at": _now()}
    out: Row = {"id": row_id, "error": None, **result.model_dump(mode="json")}
    initial_steps = result.trace[0].steps if result.trace else result.steps
    out["initial_steps"] = initial_steps
    out["initial_answer"] = final_answer(initial_steps)
    out["gold"] = gold
    if gold is not None:
        # Grading may wait on a time-boxed worker process: off the event loop, so the other rows keep going.
        out["initial_correct"] = await asyncio.to_thread(_matches, out["initial_answer"], gold)
        out["final_correct"] = await asyncio.to_thread(_matches, result.answer, gold)
    return out | stamp | {"finished_at": _now()}


def _matches(pred: str | None, gold: str) -> bool:
    return pred is not None and answers_match(pred, gold)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


async def arefine_batch(
    rows: str | Path | Iterable[Mapping[str, Any]],
    out_path: str | Path,
    *,
    generator: ChatEngine | str | None = None,
    critic: ChatEngine | str | None = None,
    concurrency: int = 16,
    max_rounds: int = 2,
    sympy: str = "veto",
    sampling: Sampling | None = None,
    critic_sampling: Sampling | None = None,
    overwrite: bool = False,
    limit: int | None = None,
    progress: bool = True,
    critic_prompt: CriticPrompt | None = None,
    critic_format: str = "free",
) -> BatchSummary:
    """Async :func:`refine_batch`."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    inputs = load_rows(rows)
    if limit is not None:
        inputs = inputs[:limit]
    ctx = make_context(generator, critic, max_rounds=max_rounds, sympy=sympy, sampling=sampling,
                       critic_sampling=critic_sampling, critic_prompt=critic_prompt, critic_format=critic_format)
    out_path = Path(out_path)
    if overwrite and out_path.exists():
        out_path.unlink()
    done_ids = read_done_ids(out_path) if out_path.exists() else set()
    pending: list[tuple[str, Row]] = []
    seen: set[str] = set()
    duplicates = 0
    for index, row in enumerate(inputs):
        row_id = _row_id(row, index)
        if row_id in seen:
            duplicates += 1
            continue
        seen.add(row_id)
        if row_id not in done_ids:
            pending.append((row_id, row))
    summary = BatchSummary(out_path=str(out_path), run_id=uuid.uuid4().hex[:12], total=len(seen),
                           skipped=len(seen) - len(pending), done=0, errors=0, duplicates=duplicates, accepted=0)
    gold_rows = 0
    before = after = 0
    bar = _progress_bar(len(pending), summary.skipped, progress)
    started = time.perf_counter()
    queue = iter(pending)

    with JsonlWriter(out_path) as writer:
        async def worker() -> None:
            nonlocal gold_rows, before, after
            for row_id, row in queue:  # one shared iterator: each row is taken by exactly one worker
                out = await _run_row(row, row_id, ctx, summary.run_id)
                writer.write(out)
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
                if bar is not None:
                    elapsed = time.perf_counter() - started
                    tokens = summary.generator_tokens + summary.critic_tokens
                    bar.set_postfix_str(f"{tokens / elapsed:.0f} tok/s, {summary.errors} errors", refresh=False)
                    bar.update(1)

        try:
            await asyncio.gather(*(worker() for _ in range(min(concurrency, max(1, len(pending))))))
        finally:
            if bar is not None:
                bar.close()
    summary.seconds = time.perf_counter() - started
    if gold_rows:
        summary.correct_before, summary.correct_after = before, after
    return summary


def _progress_bar(total: int, already: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="row", desc=f"refine ({already} already done)" if already else "refine",
                dynamic_ncols=True)


def refine_batch(
    rows: str | Path | Iterable[Mapping[str, Any]],
    out_path: str | Path,
    *,
    generator: ChatEngine | str | None = None,
    critic: ChatEngine | str | None = None,
    concurrency: int = 16,
    max_rounds: int = 2,
    sympy: str = "veto",
    sampling: Sampling | None = None,
    critic_sampling: Sampling | None = None,
    overwrite: bool = False,
    limit: int | None = None,
    progress: bool = True,
    critic_prompt: CriticPrompt | None = None,
    critic_format: str = "free",
) -> BatchSummary:
    """Critique and refine every row's solution; write one JSONL row per input id to ``out_path``; resume by id.

    See the module docstring for the row formats. ``critic_prompt`` builds the critic's chat (default: our wording);
    ``critic_format``: ``free`` | ``guided`` (see :func:`agent.solve.solve_with_critic`).
    Returns a :class:`BatchSummary`.
    """
    return asyncio.run(arefine_batch(rows, out_path, generator=generator, critic=critic, concurrency=concurrency,
                                     max_rounds=max_rounds, sympy=sympy, sampling=sampling,
                                     critic_sampling=critic_sampling, overwrite=overwrite, limit=limit,
                                     progress=progress, critic_prompt=critic_prompt, critic_format=critic_format))

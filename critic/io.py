"""Output files of long jobs: crash-safe JSONL, atomic writes, one writer per output, one resume rule, shards.

**Rows.** Every job writes one JSON object per line per unit of work, keyed by a string id (``id``; eval predictions
use ``key``). A row whose ``error`` field is not null is an *error row*: the unit failed through its own fault
(malformed input, a prompt the engine refuses) and the ``error`` text names the cause. Error rows are final: a rerun
skips them unless asked to retry them (``--retry-errors``). Engine failures are never written as rows.

**The resume rule** (:func:`best_rows`, used by every job, by resume and by ``deepcritic merge``): per id, the last
row that is not an error row wins; an id with only error rows is represented by its last error row. Why: with one
writer per output (below) the only way an id gets a second row is a later, deliberate attempt - ``--retry-errors``
appending the result of a retried error row, or a merge of shard outputs that overlap - so the newest result is the
one wanted, and a result always beats an error (a retry that fails again must not hide an earlier success).

**Input files** (:func:`iter_jsonl`, :func:`read_rows_file`): every loader of row files (benchmarks, ``refine``
inputs, training data, ``view``) reads them here, so "row N is not JSON" reads the same everywhere. Output files are
read with :func:`read_jsonl`, which also forgives a torn last line.

**Atomic writes** (:func:`atomic_write_text` / ``_json`` / ``_jsonl``): every whole-file output (config.json,
metrics, stats, reports, merged shards, HTML views) is written to a temporary sibling and renamed over the target.

**One writer per output** (:func:`hold`): a run takes an exclusive POSIX record lock (``fcntl.lockf``) on
``<output>.lock`` beside an output file, or ``<folder>/run.lock`` in a run folder, and keeps it for its whole life;
a second run is refused at once with one line naming the holder (pid, host, start time, command). The kernel drops
the lock when the holder dies, however it dies, so a lock left by a killed run never blocks. A record lock rather
than ``flock``: record locks are not inherited across ``fork``, so an engine process forked by the run (vLLM) that
outlives a killed run cannot keep its output locked. The lock file itself stays (harmless); a lock on a network file
system is as good as that file system's POSIX locks (NFSv4: fine).

**Shards** (:class:`Shard`): ``i/N`` takes the ids whose stable hash (SHA-256 of the id, first 8 bytes, mod N) is
``i - 1``; the N shards of a selection cover it exactly once, whatever the order or the machine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel

Row = dict[str, Any]
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------------------- JSONL


def _as_json(row: BaseModel | Row) -> str:
    data = row.model_dump(mode="json") if isinstance(row, BaseModel) else row
    return json.dumps(data, ensure_ascii=False)


def _repair_torn_tail(path: Path) -> None:
    """A kill mid-write can leave a last line without its newline: keep it if it parses, else cut it off."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        # Walk back in chunks to the last newline: the torn line starts just after it.
        cut, chunk = size, 1 << 16
        while cut > 0:
            start = max(0, cut - chunk)
            f.seek(start)
            newline = f.read(cut - start).rfind(b"\n")
            if newline >= 0:
                cut = start + newline + 1
                break
            cut = start
        f.seek(cut)
        tail = f.read()
        try:
            json.loads(tail)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            f.truncate(cut)
        else:
            f.seek(0, os.SEEK_END)
            f.write(b"\n")
        f.flush()
        os.fsync(f.fileno())


class JsonlWriter:
    """Append rows to a JSONL file, one line each, flushed and fsynced per row (a kill loses at most the row being
    written). Opening repairs a torn last line left by an earlier kill. Thread-safe; a context manager."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _repair_torn_tail(self.path)
        self._file = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, row: BaseModel | Row) -> None:
        """Append one row (a pydantic model is dumped in JSON mode) as one line, flushed and fsynced before returning.
        Raises ValueError for a row JSON cannot encode."""
        line = _as_json(row) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[BaseModel | Row]) -> int:
    """Append every row with :class:`JsonlWriter`; returns how many were written."""
    count = 0
    with JsonlWriter(path) as writer:
        for row in rows:
            writer.write(row)
            count += 1
    return count


def read_jsonl(path: str | os.PathLike[str]) -> list[Row]:
    """Rows of a JSONL file written by :class:`JsonlWriter`; an unparsable *last* line (a torn write) is ignored,
    an unparsable line elsewhere raises ValueError naming the file and line. A missing file has no rows."""
    p = Path(path)
    if not p.is_file():
        return []
    lines = p.read_text(encoding="utf-8", errors="replace").split("\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    rows: list[Row] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == last:
                break  # torn by a kill; JsonlWriter cuts it off when it reopens the file
            raise ValueError(f"{p}: row {i + 1}: invalid JSON ({e.msg})") from e
    return rows


OnBad = Callable[[int, str], Row]  # (1-based row number, message) -> the row to use instead of raising


def iter_jsonl(path: str | os.PathLike[str], on_bad: OnBad | None = None) -> Iterator[tuple[int, Row]]:
    """``(line number, row)`` for every non-blank line of a JSONL *input* file (1-based line numbers), streamed.

    A line that is not JSON, or not a JSON object, raises ValueError ``"<path>: row N: invalid JSON (...)"`` /
    ``"... expected a JSON object, got list"``; with ``on_bad`` it yields ``(N, on_bad(N, message))`` instead (e.g.
    a per-row error row). OSError when the file cannot be read."""
    p = Path(path)
    with p.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                message = f"invalid JSON ({e.msg})"
            else:
                if isinstance(row, dict):
                    yield lineno, row
                    continue
                message = f"not a JSON object (a {type(row).__name__})"
            if on_bad is None:
                raise ValueError(f"{p}: row {lineno}: {message}")
            yield lineno, on_bad(lineno, message)


def read_rows_file(path: str | os.PathLike[str], on_bad: OnBad | None = None) -> list[Row]:
    """Rows of an input file: JSONL (``.jsonl``; :func:`iter_jsonl`, with the same ``on_bad``), or one JSON document
    (``.json``, or any other name whose text starts with ``[``) holding a list of objects.
    ValueError naming the file (and row) for bad content; OSError when it cannot be read."""
    p = Path(path)
    suffix = p.suffix.lower()
    text = None if suffix == ".jsonl" else p.read_text(encoding="utf-8")
    if text is None or (suffix != ".json" and not text.lstrip().startswith("[")):
        return [row for _, row in iter_jsonl(p, on_bad)]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: invalid JSON at line {e.lineno} ({e.msg})") from e
    if not isinstance(data, list):
        raise ValueError(f"{p}: expected a JSON list of rows, got {type(data).__name__}")
    rows: list[Row] = []
    for i, row in enumerate(data, 1):
        if not isinstance(row, dict):
            message = f"not a JSON object (a {type(row).__name__})"
            if on_bad is None:
                raise ValueError(f"{p}: row {i}: {message}")
            row = on_bad(i, message)
        rows.append(row)
    return rows


def check_input_ids(numbered_ids: Iterable[tuple[int, str]], where: str) -> None:
    """Refuse an input that a job would key by id and so silently shrink: no rows at all, or two rows with one id.
    ``numbered_ids``: ``(1-based row number, id)`` of every row, in order; ``where`` names the input (its path).
    ValueError (one line, a usage error on the command line): ``"<where>: no rows"`` or ``"<where>: id 'x' is on
    rows 3 and 7; ids must be unique"``. Every loader of job inputs (benchmarks, ``refine`` inputs, training inputs)
    calls it."""
    first: dict[str, int] = {}
    for number, row_id in numbered_ids:
        held = first.setdefault(row_id, number)
        if held != number:
            raise ValueError(f"{where}: id {row_id!r} is on rows {held} and {number}; ids must be unique")
    if not first:
        raise ValueError(f"{where}: no rows")


def read_keyed_rows(paths: Sequence[str | os.PathLike[str]], key: str | None = None) -> tuple[str, list[Row]]:
    """``(key, rows)`` of job outputs about to be merged (shards), read strictly: every line a JSON object with a
    non-null ``key`` (default: :func:`row_key` of the first row), so that no row is dropped unseen. A missing file
    has no rows. ValueError ``"<path>: row N: invalid JSON (...)"`` (a torn last line too: finish that job first) or
    ``"<path>: row N: no 'id' field"``."""
    numbered = [(Path(p), n, row) for p in paths if Path(p).is_file() for n, row in iter_jsonl(p)]
    key = key or row_key(row for _, _, row in numbered)
    for path, number, row in numbered:
        if row.get(key) is None:
            raise ValueError(f"{path}: row {number}: no {key!r} field; every row of a job's output has one")
    return key, [row for _, _, row in numbered]


# -------------------------------------------------------------------------------------------------- resume rule


def is_error_row(row: Row) -> bool:
    """A row that records its unit's own failure (``error`` is set)."""
    return row.get("error") is not None


def best_rows(rows: Iterable[Row], key: str = "id") -> dict[str, Row]:
    """The resume rule (module docstring): per id, the last non-error row, else the last error row. Rows without
    ``key`` are ignored. Ids keep the order of their first appearance."""
    best: dict[str, Row] = {}
    for row in rows:
        if not isinstance(row, dict) or key not in row:
            continue
        row_id = str(row[key])
        held = best.get(row_id)
        if held is None or not is_error_row(row) or is_error_row(held):
            best[row_id] = row
    return best


def read_best_rows(path: str | os.PathLike[str], key: str = "id") -> dict[str, Row]:
    """:func:`best_rows` of a JSONL file (empty when the file does not exist)."""
    return best_rows(read_jsonl(path), key)


def done_ids(rows: dict[str, Row], retry_errors: bool = False) -> set[str]:
    """Ids a rerun skips: every id with a row, or with ``retry_errors`` only those whose best row is not an error."""
    return {i for i, row in rows.items() if not (retry_errors and is_error_row(row))}


def read_done_ids(path: str | os.PathLike[str], key: str = "id", retry_errors: bool = False) -> set[str]:
    """Ids (``row[key]`` as str) already done in a JSONL output, for resuming; tolerates a torn last line."""
    return done_ids(read_best_rows(path, key), retry_errors)


def count_error_rows(rows: dict[str, Row], ids: Iterable[str] | None = None) -> int:
    """How many ids (all, or those in ``ids``) are represented by an error row."""
    wanted = None if ids is None else set(ids)
    return sum(is_error_row(row) for i, row in rows.items() if wanted is None or i in wanted)


# ------------------------------------------------------------------------------------------------ atomic writes


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to a temporary sibling, fsync it and rename it over ``path``: a reader never sees half a file
    and a kill leaves either the old or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def atomic_write_json(path: str | os.PathLike[str], data: Any, sort_keys: bool = False) -> Path:
    """:func:`atomic_write_text` of ``data`` as indented JSON with a final newline."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=sort_keys) + "\n")


def atomic_write_jsonl(path: str | os.PathLike[str], rows: Iterable[BaseModel | Row]) -> int:
    """Replace ``path`` by exactly ``rows`` (one line each), atomically; returns how many."""
    lines = [_as_json(row) + "\n" for row in rows]
    atomic_write_text(path, "".join(lines))
    return len(lines)


# ------------------------------------------------------------------------------------------------------- locking


class OutputLocked(RuntimeError):
    """The output cannot be held for writing: another run holds it (one line naming the holder). Every command
    turns it into one usage-error line (exit 2)."""


class OutputUnwritable(OutputLocked):
    """The output's lock file (or its folder) cannot be created: permission denied, read-only file system, a file
    where a folder should be. One line naming the path and the cause; a kind of :class:`OutputLocked` so every
    command reports it the same way (exit 2, no traceback)."""


_held: set[str] = set()  # lock files this process holds (POSIX record locks do not exclude their own process)
_held_guard = threading.Lock()


def lock_path_for(output: str | os.PathLike[str], folder: bool | None = None) -> Path:
    """``<folder>/run.lock`` for a run folder, ``<file>.lock`` beside an output file. ``folder=None`` decides by
    what exists (a missing path counts as a file unless it has no suffix)."""
    output = Path(output)
    if folder is None:
        folder = output.is_dir() or (not output.exists() and not output.suffix)
    return output / "run.lock" if folder else output.with_name(output.name + ".lock")


def _holder(lock_file: Path) -> str:
    try:
        info = json.loads(lock_file.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
    command = f" ({info['command']})" if info.get("command") else ""
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {started}{command}"


@contextmanager
def hold(output: str | os.PathLike[str], folder: bool | None = None) -> Iterator[Path]:
    """Hold ``output`` (a file, or with ``folder=True`` a run folder) for the block: the one-writer lock (module
    docstring). Raises :class:`OutputLocked` at once when another run (in this or another process) holds it, and
    :class:`OutputUnwritable` when the lock file cannot be created (e.g. PermissionError)."""
    lock_file = lock_path_for(output, folder)
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputUnwritable(f"cannot create {lock_file.parent}: {e.strerror or e}") from None
    name = str(lock_file.resolve())
    with _held_guard:
        if name in _held:
            raise OutputLocked(f"{output} is being written by this process already (another job in it holds it)")
        _held.add(name)
    try:
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputUnwritable(f"cannot create the lock file {lock_file}: {e.strerror or e}") from None
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputLocked(f"{output} is being written by {_holder(lock_file)}; wait for it to finish or write "
                               "elsewhere") from None
        try:
            info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                    "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:300]}
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
            yield lock_file
        finally:
            os.close(fd)  # releases the record lock
    finally:
        with _held_guard:
            _held.discard(name)


# ------------------------------------------------------------------------------------------------------- shards


class Shard:
    """Shard ``index`` of ``count`` (1-based, as ``"i/N"`` on command lines): the ids whose stable hash mod ``count``
    is ``index - 1``."""

    def __init__(self, index: int, count: int) -> None:
        if count < 1 or not 1 <= index <= count:
            raise ValueError(f"shard {index}/{count}: need 1 <= i <= N")
        self.index, self.count = index, count

    @classmethod
    def parse(cls, text: str | None) -> Shard | None:
        """``"2/8"`` -> shard 2 of 8; None or "" -> None (no sharding). ValueError (one line) otherwise."""
        if text is None or not str(text).strip():
            return None
        left, sep, right = str(text).strip().partition("/")
        if not sep or not left.strip().isdigit() or not right.strip().isdigit():
            raise ValueError(f"shard {text!r}: expected i/N, e.g. 1/4")
        return cls(int(left), int(right))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def __contains__(self, row_id: object) -> bool:
        return shard_of(str(row_id), self.count) == self.index - 1

    def select(self, items: Sequence[T], key: Callable[[T], str]) -> list[T]:
        """The items of this shard, in their order."""
        return [item for item in items if key(item) in self]


def _valid_shard(text: str | None) -> str | None:
    Shard.parse(text)
    return text


# A config field holding "i/N" (or None): checked where every config reads it, with the field named in the error.
ShardSpec = Annotated[str | None, AfterValidator(_valid_shard)]


def check_shard_cover(folders: Sequence[tuple[str | os.PathLike[str], str | None]]) -> None:
    """Refuse to merge run folders that do not make up one whole run: ``folders`` is ``(folder, its shard spec or
    None)`` for each. Either none is sharded (runs of the whole selection, joined by the resume rule), or all are
    shards ``i/N`` of one ``N`` with every ``i`` in 1..N exactly once. ValueError (one line) otherwise, e.g.
    ``"shards 2/2 missing; pass every shard folder"``: a merge of some shards would compute metrics over part of the
    data under a config that says no shard."""
    if not folders:
        raise ValueError("no folders to merge")
    parsed = [(str(folder), Shard.parse(spec)) for folder, spec in folders]
    sharded = [(f, s) for f, s in parsed if s is not None]
    if not sharded:
        return
    if len(sharded) != len(parsed):
        whole = next(f for f, s in parsed if s is None)
        raise ValueError(f"{sharded[0][0]} is shard {sharded[0][1]} but {whole} is not sharded; merge the shard "
                         "folders of one run")
    first_folder, first = sharded[0]
    seen: dict[int, str] = {}
    for folder, shard in sharded:
        if shard.count != first.count:
            raise ValueError(f"{first_folder} is shard {first} but {folder} is shard {shard}; the shards of one run "
                             "share N")
        if shard.index in seen:
            raise ValueError(f"shard {shard} is given twice ({seen[shard.index]} and {folder})")
        seen[shard.index] = folder
    missing = [f"{i}/{first.count}" for i in range(1, first.count + 1) if i not in seen]
    if missing:
        raise ValueError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing; pass every shard "
                         "folder")


def shard_of(row_id: str, count: int) -> int:
    """0-based shard of an id among ``count``: SHA-256 of its UTF-8 bytes, first 8 bytes big-endian, mod ``count``."""
    digest = hashlib.sha256(row_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def select_shard(items: Sequence[T], shard: str | Shard | None, key: Callable[[T], str]) -> list[T]:
    """``items`` of ``shard`` (all of them without one)."""
    parsed = Shard.parse(shard) if isinstance(shard, str) or shard is None else shard
    return list(items) if parsed is None else parsed.select(items, key)


# -------------------------------------------------------------------------------------------------------- merge


def row_key(rows: Iterable[Row]) -> str:
    """The id field of a job's rows: ``key`` (eval predictions and samples) when the first row has one, else ``id``."""
    first = next(iter(rows), None)
    return "key" if isinstance(first, dict) and "key" in first else "id"


def merge_jsonl(inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], key: str | None = None) -> dict:
    """Join JSONL outputs (e.g. shards) into ``out`` with the resume rule: one row per id, in order of first
    appearance. ``out`` is replaced atomically. Returns ``{"ids", "rows_read", "error_rows"}``. The inputs are read
strictly (:func:`read_keyed_rows`): a line that is not a JSON object or a row without an id is a ValueError naming
the file and row, and ``out`` is left as it was."""
    key, rows = read_keyed_rows(inputs, key)
    best = best_rows(rows, key)
    atomic_write_jsonl(out, best.values())
    return {"ids": len(best), "rows_read": len(rows), "error_rows": count_error_rows(best)}

"""critic.io: the resume rule, shards, atomic writes, JSONL merge and the one-writer lock (real processes, real
kernel locks; no model)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from critic.io import (
    OutputLocked,
    Shard,
    atomic_write_json,
    best_rows,
    done_ids,
    hold,
    lock_path_for,
    merge_jsonl,
    read_jsonl,
    select_shard,
    shard_of,
    write_jsonl,
)

REPO = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------------------------ the resume rule


def test_a_result_beats_an_error_and_the_newest_wins_among_equals():
    rows = [
        {"id": "a", "error": "RequestRejected: too long", "v": 1},
        {"id": "b", "error": None, "v": 1},
        {"id": "a", "error": None, "v": 2},  # --retry-errors succeeded: wins over the error row
        {"id": "b", "error": None, "v": 2},  # a later result (e.g. overlapping shards): newest wins
        {"id": "c", "error": "first failure", "v": 1},
        {"id": "c", "error": "second failure", "v": 2},  # only errors: the newest error
        {"id": "d", "error": None, "v": 1},
        {"id": "d", "error": "a retry that failed", "v": 2},  # never hides an earlier success
        {"no-id": True},
    ]
    best = best_rows(rows)
    assert list(best) == ["a", "b", "c", "d"]  # order of first appearance
    assert {k: (r["error"], r["v"]) for k, r in best.items()} == {
        "a": (None, 2), "b": (None, 2), "c": ("second failure", 2), "d": (None, 1)}
    assert done_ids(best) == {"a", "b", "c", "d"}
    assert done_ids(best, retry_errors=True) == {"a", "b", "d"}
    assert set(best_rows([{"key": "x/1"}, {"key": "x/2"}], key="key")) == {"x/1", "x/2"}


def test_merge_jsonl_keeps_one_row_per_id(tmp_path):
    one, two = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    write_jsonl(one, [{"id": "a", "error": None}, {"id": "b", "error": "boom"}])
    write_jsonl(two, [{"id": "b", "error": None}, {"id": "c", "error": "bad row"}, {"id": "a", "error": "late"}])
    out = tmp_path / "merged.jsonl"
    result = merge_jsonl([one, two], out)
    assert result == {"ids": 3, "rows_read": 5, "error_rows": 1}
    rows = read_jsonl(out)
    assert [(r["id"], r["error"]) for r in rows] == [("a", None), ("b", None), ("c", "bad row")]
    keyed = tmp_path / "keyed.jsonl"
    write_jsonl(keyed, [{"key": "s/1", "id": "1"}, {"key": "t/1", "id": "1"}])  # eval rows: "key" is the id
    assert merge_jsonl([keyed], tmp_path / "k.jsonl")["ids"] == 2


def test_atomic_json_leaves_no_temporary_files(tmp_path):
    path = atomic_write_json(tmp_path / "m.json", {"b": 1, "a": 2}, sort_keys=True)
    assert path.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


# ---------------------------------------------------------------------------------------------------------- shards


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_cover_every_id_exactly_once(count):
    ids = [f"gsm8k-test-{i}" for i in range(500)] + ["", "ünïcode/ід", "x" * 1000]
    parts = [select_shard(ids, f"{i}/{count}", key=str) for i in range(1, count + 1)]
    assert sorted(i for part in parts for i in part) == sorted(ids)
    assert all(set(a).isdisjoint(b) for n, a in enumerate(parts) for b in parts[n + 1 :])
    if count > 1:
        assert all(len(part) > 0 for part in parts)  # the hash spreads ids over every shard


def test_shard_assignment_is_stable_across_processes_and_versions():
    # Pinned values: a job array whose tasks run on different machines (or after an upgrade) must agree.
    assert [shard_of(f"id-{i}", 5) for i in range(8)] == [4, 4, 3, 1, 2, 2, 0, 2]
    code = "from critic.io import shard_of; print([shard_of(f'id-{i}', 5) for i in range(8)])"
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONHASHSEED="123")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "[4, 4, 3, 1, 2, 2, 0, 2]"


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "2", "1/2/3"])
def test_bad_shards_are_one_line(text):
    with pytest.raises(ValueError, match="shard") as info:
        Shard.parse(text)
    assert "\n" not in str(info.value)
    assert Shard.parse(None) is None and str(Shard.parse(" 2/8 ")) == "2/8"


# ---------------------------------------------------------------------------------------------------------- locks

HOLDER = """
import sys, time
from critic.io import hold
with hold(sys.argv[1], folder=sys.argv[2] == "dir"):
    print("held", flush=True)
    if sys.argv[3] == "fork":
        import os
        if os.fork() == 0:  # a child like vLLM's engine process, forked while the lock is held
            time.sleep(30)
            os._exit(0)
        print("forked", flush=True)
        sys.exit(0)  # the parent ends; the child lives on
    time.sleep(60)
"""


def start_holder(target: Path, kind: str = "file", mode: str = "sleep") -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(target), kind, mode], stdout=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path):
    out = tmp_path / "out.jsonl"
    holder = start_holder(out)
    try:
        with pytest.raises(OutputLocked) as info, hold(out):
            pass
        message = str(info.value)
        assert "\n" not in message and f"pid {holder.pid}" in message and os.uname().nodename in message
        assert lock_path_for(out) == tmp_path / "out.jsonl.lock"
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_run_never_blocks(tmp_path):
    run_dir = tmp_path / "run"
    holder = start_holder(run_dir, kind="dir")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (run_dir / "run.lock").exists()  # the file stays; the kernel dropped the lock with the process
    with hold(run_dir, folder=True) as lock_file:
        assert json.loads(lock_file.read_text())["pid"] == os.getpid()


def test_a_forked_child_does_not_keep_the_output_locked(tmp_path):
    out = tmp_path / "out.jsonl"
    holder = start_holder(out, mode="fork")
    try:
        assert holder.stdout.readline().strip() == "forked"
        holder.wait(timeout=30)
        time.sleep(0.2)
        with hold(out):  # the parent is gone; its forked child (still alive) does not hold the lock
            pass
    finally:
        try:
            os.killpg(holder.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_the_same_process_cannot_hold_one_output_twice(tmp_path):
    out = tmp_path / "out.jsonl"
    with hold(out), pytest.raises(OutputLocked, match="this process"), hold(out):
        pass
    with hold(out):  # released on exit
        pass

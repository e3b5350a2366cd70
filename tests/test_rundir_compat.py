"""Run folders written before a config key existed still resume (the missing key reads as its default), a changed
value of that key is still refused, and an output whose lock file cannot be created is one line (exit 2), not a
traceback."""

from __future__ import annotations

import json
import os

import pytest

from critic.io import OutputLocked, OutputUnwritable, hold
from eval.rundir import RunConfigMismatch, prepare, with_defaults


@pytest.fixture
def pb_gsm8k(fixtures_dir):
    return str(fixtures_dir / "processbench_gsm8k.json")


def _drop_keys(folder, *keys):
    path = folder / "config.json"
    saved = json.loads(path.read_text())
    for key in keys:
        saved.pop(key)
    path.write_text(json.dumps(saved))


@pytest.mark.parametrize("dropped", [("critic_format",), ("vote_filter", "extraction"), ("engine_args", "name")])
def test_an_old_error_id_folder_without_new_keys_resumes(tmp_path, pb_gsm8k, dropped):
    from eval.error_id import ErrorIdConfig

    config = ErrorIdConfig(critic="sympy", data=[pb_gsm8k], limit=3)
    prepare(tmp_path, config)
    _drop_keys(tmp_path, *dropped)  # as written by a version that did not have these keys yet
    assert prepare(tmp_path, config) == tmp_path
    assert set(dropped) <= set(json.loads((tmp_path / "config.json").read_text()))  # rewritten in full


def test_a_missing_key_reads_as_its_default_not_as_anything(tmp_path, pb_gsm8k):
    from eval.error_id import ErrorIdConfig

    prepare(tmp_path, ErrorIdConfig(critic="sympy", data=[pb_gsm8k], limit=3))
    _drop_keys(tmp_path, "extraction")
    with pytest.raises(RunConfigMismatch, match="extraction"):
        prepare(tmp_path, ErrorIdConfig(critic="sympy", data=[pb_gsm8k], limit=3, extraction="reference"))


def test_with_defaults_keeps_saved_values_and_leaves_required_fields_missing():
    from pydantic import BaseModel

    class Config(BaseModel):
        data: str
        window: int | None = None
        tags: list[str] = ["a"]

    assert with_defaults({"window": 4}, Config) == {"window": 4, "tags": ["a"]}


def test_the_cli_resumes_an_old_folder(tmp_path, pb_gsm8k):
    from eval.cli import main

    out = tmp_path / "run"
    args = ["error-id", "--critic", "sympy", "--data", pb_gsm8k, "--limit", "3", "-o", str(out), "--no-progress"]
    assert main(args) == 0
    _drop_keys(out, "critic_format", "vote_filter")
    assert main(args) == 0


def _deny_lock_files(monkeypatch):
    """os.open raises PermissionError for lock files (the tests run as root, where chmod denies nothing)."""
    real_open = os.open

    def denied(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)


def test_a_lock_file_that_cannot_be_created_is_one_line(tmp_path, monkeypatch):
    _deny_lock_files(monkeypatch)
    with (pytest.raises(OutputUnwritable, match="cannot create the lock file .*out.jsonl.lock: Permission denied"),
          hold(tmp_path / "out.jsonl")):
        pass
    assert issubclass(OutputUnwritable, OutputLocked)  # every command already reports OutputLocked as exit 2


def test_a_folder_that_cannot_be_created_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputUnwritable, match="cannot create"), hold(blocker / "run", folder=True):
        pass


def test_the_cli_says_one_line_and_exits_2(tmp_path, pb_gsm8k, monkeypatch, capsys):
    from eval.cli import main

    _deny_lock_files(monkeypatch)
    code = main(["error-id", "--critic", "sympy", "--data", pb_gsm8k, "--limit", "2", "-o", str(tmp_path / "run"),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Permission denied" in err and "Traceback" not in err


def test_refine_says_one_line_and_exits_2(tmp_path, monkeypatch, capsys):
    from agent.cli import main

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "problem": "1 + 1?", "steps": ["1 + 1 = 2"]}) + "\n")
    _deny_lock_files(monkeypatch)
    # the lock is taken before any engine is built: "embedded" is never loaded here
    code = main(["refine", str(src), "-o", str(tmp_path / "out.jsonl"), "--generator", "embedded", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Permission denied" in err and "Traceback" not in err

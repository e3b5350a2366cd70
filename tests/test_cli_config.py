"""One command registry, flags generated from the configs: help read from the config, ``--config`` with flags over
it, unknown keys as one line, ``--debug`` tracebacks, quiet runs. Control flow over FAKE scripted engines (spec
``fake``); the demo test at the end runs the real embedded model through vLLM (slow)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from test_cli import fake_engines  # noqa: F401  (the FAKE scripted engine fixture, spec ``fake``)

from agent.cli import REGISTRY, main
from agent.commands import load_config, make_critique_parser, make_refine_parser, make_solve_parser
from agent.config import CritiqueConfig, RefineConfig, SolveConfig
from critic.commandline import field_default, plain_text
from critic.quiet import LIBRARY_LOGGERS, quiet_libraries

ROOT = Path(__file__).resolve().parents[1]


def _configs():
    from eval.error_id import ErrorIdConfig
    from eval.refine_success import RefineConfig as EvalRefineConfig
    from eval.tts import TtsConfig
    from training.mc_labels import MCLabelConfig
    from training.seed import SeedConfig

    return [(["solve"], SolveConfig), (["critique"], CritiqueConfig), (["refine"], RefineConfig),
            (["eval", "error-id"], ErrorIdConfig), (["eval", "refine"], EvalRefineConfig), (["eval", "tts"], TtsConfig),
            (["train", "mc-label"], MCLabelConfig), (["train", "seed"], SeedConfig)]


def _squash(text: str) -> str:
    """Help text without any whitespace (argparse wraps lines, also at hyphens)."""
    return "".join(text.split())


@pytest.mark.parametrize("command, config", _configs(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_help_reads_defaults_and_descriptions_from_the_config(command, config, capsys):
    assert main(command + ["--help"]) == 0
    out = _squash(capsys.readouterr().out)
    assert "--config" in out
    checked = 0
    for name, info in config.model_fields.items():
        if name in ("engine_args", "kind"):
            continue
        default = field_default(config, name)
        description = plain_text(info.description or "")
        if "(default:" in description:  # the description says its default: shown once, not twice
            assert _squash(f"{description} (default: {default})") not in out, name
        else:
            assert _squash("required" if default is ... else f"default: {default}") in out, name
        if info.description:
            assert _squash(description) in out, name
            checked += 1
    assert "``" not in out and "(default:None)(default:" not in out
    assert checked >= 5  # the fields are documented, once, in the config


def test_every_registered_command_has_help(capsys):
    for name in REGISTRY:
        assert main([name, "--help"]) == 0, name
        assert f"deepcritic {name}" in capsys.readouterr().out


def _parse(makers, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="deepcritic")
    sub = parser.add_subparsers(dest="command")
    for make in makers:
        make(sub)
    return parser.parse_args(argv)


@pytest.mark.parametrize("order", [(make_solve_parser, make_critique_parser, make_refine_parser),
                                   (make_refine_parser, make_critique_parser, make_solve_parser)])
def test_each_loop_command_gets_its_own_default_rounds(order):
    """The kind: a default set for one command leaked into the others through a shared parent parser."""
    for command, config in (("solve", SolveConfig), ("refine", RefineConfig)):
        extra = {"solve": ["q"], "refine": ["in.jsonl", "-o", "out.jsonl"]}[command]
        args = _parse(order, [command, *extra])
        assert load_config(config, args).max_rounds == field_default(config, "max_rounds")
    assert (field_default(SolveConfig, "max_rounds"), field_default(RefineConfig, "max_rounds")) == (3, 2)
    assert not hasattr(_parse(order, ["critique"]), "max_rounds")  # one critique round: no rounds to set


def test_config_file_with_flags_over_it(tmp_path):
    cfg = tmp_path / "solve.yaml"
    cfg.write_text("max_rounds: 1\nmax_tokens: 64\nsympy: 'off'\ncritic: fake\n")
    args = _parse([make_solve_parser], ["solve", "--config", str(cfg), "--max-tokens", "32", "q"])
    loaded = load_config(SolveConfig, args)
    assert (loaded.max_rounds, loaded.max_tokens, loaded.sympy, loaded.critic) == (1, 32, "off", "fake")
    assert loaded.temperature == field_default(SolveConfig, "temperature")  # neither file nor flag: the default


def test_config_file_drives_a_real_command_line(tmp_path, fake_engines, capsys):  # noqa: F811  (the imported fixture)
    import json

    cfg = tmp_path / "solve.yaml"
    cfg.write_text("generator: fake\nsympy: 'off'\nmax_tokens: 64\n")
    assert main(["solve", "--config", str(cfg), "--json", "--max-tokens", "48", "What is 2 + 3?"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sympy"] == "off" and result["accepted"]
    assert {sampling.max_tokens for sampling in fake_engines.samplings} == {48}


@pytest.mark.parametrize("argv, key, near", [
    (["solve", "q"], "max_round", "max_rounds"),
    (["critique", "-"], "sympi", "sympy"),
    (["refine", "in.jsonl", "-o", "out.jsonl"], "concurency", "concurrency"),
    (["eval", "tts", "-o", "runs/x"], "temprature", "temperature"),
    (["eval", "refine", "-o", "runs/x"], "max_round", "max_rounds"),
    (["train", "seed"], "deep_sample", "deep_samples"),
])
def test_unknown_config_key_is_one_line_exit_2(argv, key, near, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(f"{key}: 2\n")
    head, rest = (argv[:2], argv[2:]) if argv[0] in ("eval", "train") else (argv[:1], argv[1:])
    assert main(head + ["--config", "bad.yaml"] + rest) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"unknown key '{key}'" in err and f"nearest valid key: '{near}'" in err


def test_bad_flag_value_names_the_flag_and_the_key(capsys):
    assert main(["refine", "in.jsonl", "-o", "out.jsonl", "--concurrency", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("deepcritic: error: --concurrency (config key concurrency):") and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv", [["--debug", "solve", "--max-tokens", "0", "q"],
                                  ["solve", "--max-tokens", "0", "q", "--debug"],
                                  ["--debug", "eval", "tts", "-n", "0", "-o", "runs/x"]])
def test_debug_shows_the_traceback(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ConfigError" in err
    assert err.strip().splitlines()[-1].startswith("deepcritic")  # the one line still ends it
    assert main([a for a in argv if a != "--debug"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_quiet_libraries_silences_then_restores():
    before = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    env_before = os.environ.get("TRANSFORMERS_VERBOSITY")
    with quiet_libraries() as quiet:
        assert all(logging.getLogger(name).level == logging.ERROR for name in LIBRARY_LOGGERS)
        assert os.environ["VLLM_LOGGING_LEVEL"] and os.environ.get("TRANSFORMERS_VERBOSITY")
        assert quiet.log_path is None  # pytest captures stderr: file descriptor 2 is left alone
    assert {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS} == before
    assert os.environ.get("TRANSFORMERS_VERBOSITY") == env_before
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_libraries():
            warnings.warn("inside", DeprecationWarning, stacklevel=2)
        with quiet_libraries(verbose=True):
            assert logging.getLogger("vllm").level == before["vllm"]
            warnings.warn("verbose", DeprecationWarning, stacklevel=2)
    assert [str(w.message) for w in seen] == ["verbose"]


def test_quiet_run_sends_child_process_stderr_to_a_log_and_names_it_after_a_failure(tmp_path):
    """Through a real process: fd 2 of a child process (as vLLM's engine core) goes to the log; our own
    sys.stderr line stays on the terminal; a failed run names the log."""
    script = (
        "import subprocess, sys\n"
        "from critic.quiet import quiet_libraries\n"
        "with quiet_libraries() as q:\n"
        "    subprocess.run([sys.executable, '-c', 'import sys; sys.stderr.write(\"CHILD NOISE\\\\n\")'])\n"
        "    print('our line', file=sys.stderr)\n"
        "q.finish(int(sys.argv[1]))\n"
        "print('log', q.log_path)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for code in (0, 3):
        done = subprocess.run([sys.executable, "-c", script, str(code)], capture_output=True, text=True, env=env,
                              timeout=120)
        assert "CHILD NOISE" not in done.stderr and "our line" in done.stderr
        log = Path(done.stdout.split("log ", 1)[1].strip())
        if code == 0:
            assert not log.exists()
        else:
            assert "library output of this run" in done.stderr and "CHILD NOISE" in log.read_text()
            log.unlink()


NOISE = re.compile(r"Triton|FutureWarning|DeprecationWarning|UserWarning|NUMA|Loading safetensors|resource_tracker|"
                   r"\bINFO\b|\bWARNING\b|it/s\]|s/it\]")


def _demo_argv() -> list[str]:
    """`make demo`'s command line, run with this interpreter and this checkout's code."""
    makefile = (ROOT / "Makefile").read_text()
    problem = re.search(r"^PROBLEM \?= (.+)$", makefile, re.M).group(1)
    line = next(ln for ln in makefile.splitlines() if "deepcritic solve" in ln)
    words = shlex.split(line.replace("$(PROBLEM)", problem))
    return [sys.executable, "-m", "agent.cli"] + words[words.index("solve"):]


@pytest.mark.slow
def test_demo_prints_the_trace_and_nothing_else():
    pytest.importorskip("vllm")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for key in ("VLLM_LOGGING_LEVEL", "PYTHONWARNINGS", "TRANSFORMERS_VERBOSITY"):
        env.pop(key, None)
    done = subprocess.run(_demo_argv(), capture_output=True, text=True, env=env, timeout=1500, cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "== round 1 (generated) ==" in done.stdout and "answer:" in done.stdout and "rounds:" in done.stdout
    noise = [line for line in output.splitlines() if NOISE.search(line)]
    assert noise == [], noise[:10]
    assert done.stderr.strip() == "", done.stderr[-2000:]

"""Error and help lines of the ``deepcritic`` commands name what the user gave: the flag an engine option came
from, why a server cannot be used, the nearest valid config key, the subcommand's usage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main

CLOSED = "openai:http://127.0.0.1:9/v1#m"  # nothing listens on port 9: no option check needs a server


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _steps(tmp_path):
    path = tmp_path / "steps.json"
    path.write_text(json.dumps({"problem": "What is 2+2?", "steps": ["2+2=4", "\\boxed{4}"]}))
    return str(path)


def _rows(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": "a", "problem": "What is 2+2?", "steps": ["2+2=4"]}) + "\n")
    return str(path)


# (command line before the role flags, roles that take --<role>-args); every spec is the same OpenAI server, so
# the roles share one engine and the line must still name the flag the option came from.
def _commands(tmp_path):
    out = str(tmp_path / "out")
    return [
        (["solve", "What is 2+2?", "--generator", CLOSED], ("generator", "critic")),
        (["critique", _steps(tmp_path), "--critic", CLOSED], ("critic",)),
        (["refine", _rows(tmp_path), "-o", str(tmp_path / "o.jsonl"), "--generator", CLOSED],
         ("generator", "critic")),
        (["eval", "error-id", "--critic", CLOSED, "-o", out + "-e"], ("critic",)),
        (["eval", "refine", "--generator", CLOSED, "--critic", CLOSED, "-o", out + "-r"], ("generator", "critic")),
        (["eval", "tts", "--generator", CLOSED, "--critic", CLOSED, "-o", out + "-t"], ("generator", "critic")),
        (["train", "mc-label", "--generator", CLOSED, "--problems", _rows(tmp_path), "--output_dir", out + "-m"],
         ("generator",)),
        (["train", "seed", "--teacher", CLOSED, "--input", _rows(tmp_path), "--output_dir", out + "-s"],
         ("teacher",)),
    ]


def test_an_unknown_engine_option_names_the_flag_it_came_from(tmp_path, capsys):
    for argv, roles in _commands(tmp_path):
        for role in roles:
            assert main([*argv, f"--{role}-args", "max_concurency=2"]) == 2, (argv, role)
            err = one_line(capsys.readouterr().err)
            assert f"unknown OpenAI engine option 'max_concurency' in --{role}-args" in err, (argv, role, err)
            assert "'max_concurrency'" in err
            others = {"generator", "critic", "teacher"} - {role}
            assert not any(f"--{other}-args" in err for other in others), err


def test_an_unknown_engine_option_in_a_config_file_names_the_config_key(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"critic: '{CLOSED}'\nengine_args: {{critic: {{timeout: 3}}}}\n")
    assert main(["critique", _steps(tmp_path), "--config", str(config)]) == 2
    err = one_line(capsys.readouterr().err)
    assert "unknown OpenAI engine option 'timeout' in engine_args.critic" in err and "'timeout_s'" in err


def test_options_of_roles_sharing_an_engine_still_merge(tmp_path):
    from critic.engines.options import engine_args_for

    specs = {"generator": CLOSED, "critic": CLOSED}
    merged = engine_args_for(specs, {"generator": {"timeout_s": 5}}, {"critic": ["max_concurrency=2"]})
    assert merged["generator"] == merged["critic"] == {"timeout_s": 5, "max_concurrency": 2}


# ---- unknown config keys: the nearest, or a bounded listing ---------------------------------------------------------


def test_unknown_key_line_is_bounded_whatever_the_valid_keys():
    from critic.configs import unknown_key_line

    many = [f"option_number_{i}" for i in range(500)]
    assert unknown_key_line("option_numbr_7", many).startswith("unknown key 'option_numbr_7' (nearest valid key: ")
    far = unknown_key_line("zzz", many)
    assert len(far) < 200 and "500 in all; see --help" in far and "option_number_0" in far
    assert unknown_key_line("zzz", ["a", "b"]) == "unknown key 'zzz' (valid keys: a, b)"
    assert unknown_key_line("zzz", []) == "unknown key 'zzz' (valid keys: none)"
    assert len(unknown_key_line("zzz", ["x" * 300, "y" * 300])) < 200


def test_config_error_line_puts_unknown_keys_first_and_stays_short():
    from pydantic import Field, ValidationError

    from critic.configs import StrictConfig, config_error_line

    class Many(StrictConfig):
        a_setting_with_a_long_name: int = Field(ge=0)
        another_setting_with_a_long_name: int
        a_third_setting_with_a_long_name: int

    with pytest.raises(ValidationError) as info:
        Many.model_validate({"a_setting_with_a_long_name": -1, "a_setting_with_a_long_nam": 1, "bogus": 2})
    line = config_error_line(info.value, Many)
    assert line.startswith("unknown key 'a_setting_with_a_long_nam' (nearest valid key: 'a_setting_with_a_long_name')")
    assert len(line) <= 120 and line.endswith("more problems")
    with pytest.raises(ValidationError) as info:
        Many.model_validate({"a_setting_with_a_long_name": 1, "another_setting_with_a_long_name": 2})
    assert config_error_line(info.value, Many) == "a_third_setting_with_a_long_name: Field required"


@pytest.mark.parametrize("key", ["unknown_thing", "zz", "learning_rate"])
def test_train_stages_name_an_unknown_key_in_one_short_line(tmp_path, capsys, key):
    pytest.importorskip("trl")
    config = tmp_path / "unknown.yaml"
    config.write_text(f"{key}: 1\n")
    for stage in ("mc-label", "seed", "sft", "rl"):
        assert main(["train", stage, "--config", str(config)]) == 2, stage
        err = one_line(capsys.readouterr().err)
        if stage in ("sft", "rl") and key == "learning_rate":
            continue  # a trl key: the stage takes it (and fails on what is missing, still one line)
        assert f"unknown key '{key}'" in err and len(err.replace(str(config), "unknown.yaml")) < 200, (stage, err)
        assert err.index(f"unknown key '{key}'") < err.find("Field required") or "Field required" not in err


# ---- flag spellings and usage errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "dest", "value"), [
    (["train", "mc-label", "--output-dir", "X"], "output_dir", "X"),
    (["train", "mc-label", "--output_dir", "X"], "output_dir", "X"),
    (["train", "mc-label", "--retry_errors"], "retry_errors", True),
    (["train", "mc-label", "--retry-errors"], "retry_errors", True),
    (["train", "seed", "--teacher_args", "seed=1"], "teacher_args", ["seed=1"]),
    (["train", "seed", "--deep-samples", "3"], "deep_samples", 3),
    (["solve", "p", "--max_tokens", "7"], "max_tokens", 7),
    (["solve", "p", "--max-tokens", "7"], "max_tokens", 7),
    (["refine", "f", "-o", "o", "--no_progress"], "no_progress", True),
    (["eval", "tts", "-o", "r", "--critic_max_tokens", "9"], "critic_max_tokens", 9),
    (["eval", "error-id", "-o", "r", "--retry_errors"], "retry_errors", True),
])
def test_config_flags_take_both_separators(argv, dest, value):
    from agent.cli import _command_parser, _load

    parser = _command_parser(argv[0], _load(argv[0]))
    args = parser.parse_args(argv)
    assert getattr(args, dest) == value


@pytest.mark.parametrize(("argv", "usage"), [
    (["train", "mc-label", "--output-dirr", "X"], "usage: deepcritic train mc-label"),
    (["train", "seed", "--bogus"], "usage: deepcritic train seed"),
    (["eval", "tts", "-o", "r", "--bogus"], "usage: deepcritic eval tts"),
    (["critique", "--bogus"], "usage: deepcritic critique"),
    (["refine", "f", "-o", "o", "extra"], "usage: deepcritic refine"),
])
def test_unrecognized_arguments_show_the_subcommands_usage(capsys, argv, usage):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(usage) and "error: unrecognized arguments: " in err, err
    assert "usage: deepcritic [-h] COMMAND" not in err


# ---- a missing input file: one line, "no such file: X", on every command ---------------------------------------------


def test_one_line_of_a_file_open_did_not_find(tmp_path):
    from critic.commandline import one_line
    from critic.data.sources import DataUnavailable

    with pytest.raises(FileNotFoundError) as info:
        (tmp_path / "gone.jsonl").read_text()
    assert one_line(info.value) == f"no such file: {tmp_path / 'gone.jsonl'}"
    assert one_line(DataUnavailable("processbench-math: not downloaded")) == "processbench-math: not downloaded"


def test_a_missing_input_file_is_the_same_line_on_every_command(tmp_path, capsys):
    pytest.importorskip("trl")
    missing = str(tmp_path / "missing.jsonl")
    out = str(tmp_path / "out")
    commands = [
        ["train", "seed", "--input", missing, "--output_dir", out],
        ["train", "mc-label", "--problems", missing, "--output_dir", out],
        ["train", "sft", "--config", "training/recipes/cpu-smoke-sft.yaml", "--dataset_name", missing,
         "--output_dir", out],
        ["train", "rl", "--config", "training/recipes/cpu-smoke-rl.yaml", "--dataset_name", missing,
         "--output_dir", out],
        ["eval", "error-id", "--data", missing, "--critic", "sympy", "-o", out + "-e"],
        ["refine", missing, "-o", out + ".jsonl"],
        ["critique", missing],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        err = one_line(capsys.readouterr().err)
        assert err.endswith(f": error: no such file: {missing}"), (argv, err)
        if argv[:2] in (["train", "seed"], ["train", "mc-label"]):
            assert not Path(out).exists(), argv  # a refused input leaves no empty output folder behind


def test_an_unknown_dataset_name_still_lists_the_known_ones(tmp_path, capsys):
    assert main(["eval", "error-id", "--data", "nope", "--critic", "sympy", "-o", str(tmp_path / "e")]) == 2
    assert "unknown dataset 'nope': use one of processbench-gsm8k" in one_line(capsys.readouterr().err)


# ---- help lists what a command uses, each default once, no RST markup ------------------------------------------------


def test_critique_takes_only_what_it_uses(tmp_path, capsys):
    from agent.config import CritiqueConfig

    assert {"generator", "max_rounds"}.isdisjoint(CritiqueConfig.model_fields)
    assert main(["critique", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--max-rounds", "--generator", "--generator-args"):
        assert flag not in out, flag
    for flag in ("--critic", "--critic-args", "--temperature", "--max-tokens"):  # the critic samples with these
        assert flag in out, flag
    assert main(["critique", "-", "--generator", "x"]) == 2
    assert "unrecognized arguments: --generator x" in capsys.readouterr().err
    config = tmp_path / "c.yaml"
    config.write_text("max_rounds: 2\n")
    assert main(["critique", "--config", str(config)]) == 2
    assert "unknown key 'max_rounds'" in one_line(capsys.readouterr().err)
    config.write_text(f"critic: '{CLOSED}'\nengine_args: {{generator: {{timeout_s: 3}}}}\n")
    assert main(["critique", "--config", str(config)]) == 2
    assert "engine_args for unknown role(s) generator; roles here: critic" in one_line(capsys.readouterr().err)


def test_help_texts_show_a_default_once_and_plain_literals():
    from pydantic import BaseModel, Field

    from critic.commandline import config_description, field_help, plain_text

    class Settings(BaseModel):
        """Settings of ``deepcritic x`` (see `deepcritic merge`)."""

        window: int | None = Field(None, description="in flight (default: sized for the engine)")
        shard: str | None = Field(None, description="merge with ``deepcritic merge``")
        rate: float = Field(0.5, description="a 50% share")
        needed: int

    assert field_help(Settings, "window") == "in flight (default: sized for the engine)"
    assert field_help(Settings, "shard") == "merge with deepcritic merge (default: None)"
    assert field_help(Settings, "rate") == "a 50%% share (default: 0.5)"
    assert field_help(Settings, "needed") == "(required)"
    assert config_description(Settings) == "Settings of deepcritic x (see deepcritic merge)."
    assert plain_text("``a`` and ``b c`` and `d`") == "a and b c and d"


def _config_types():
    from agent.config import CritiqueConfig, RefineConfig, SolveConfig
    from eval.error_id import ErrorIdConfig
    from eval.refine_success import RefineConfig as EvalRefineConfig
    from eval.tts import TtsConfig
    from training.mc_labels import MCLabelConfig
    from training.seed import SeedConfig

    return {("critique",): CritiqueConfig, ("solve",): SolveConfig, ("refine",): RefineConfig,
            ("eval", "tts"): TtsConfig, ("eval", "error-id"): ErrorIdConfig, ("eval", "refine"): EvalRefineConfig,
            ("train", "mc-label"): MCLabelConfig, ("train", "seed"): SeedConfig}


def test_help_never_shows_a_default_twice_or_rst(capsys):
    from critic.commandline import field_help

    for argv, config in _config_types().items():
        for name in config.model_fields:
            assert field_help(config, name).count("(default:") <= 1, (config.__name__, name)
        assert main([*argv, "--help"]) == 0
        out = capsys.readouterr().out
        assert "``" not in out, argv

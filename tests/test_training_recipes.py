"""Every recipe loads and validates through the parser its CLI stage uses (GPU recipes included), the accelerate
config loads as accelerate reads it, and the bundled smoke data renders in the trained format."""

from __future__ import annotations

from pathlib import Path

import pytest

from critic.parse import parse_critique
from critic.steps import label0_to_step1
from training.cli import _pipeline_configs, build_parser, main
from training.inputs import RECIPES_DIR, load_labeled_solutions

RECIPES = sorted(RECIPES_DIR.glob("*.yaml"))
STAGE_BY_SUFFIX = {
    "-sft.yaml": "sft",
    "-grpo.yaml": "rl",
    "-rl.yaml": "rl",
    "-seed.yaml": "seed",
    "-mc-label.yaml": "mc-label",
}


def stage_of(recipe: Path) -> str:
    return next(stage for suffix, stage in STAGE_BY_SUFFIX.items() if recipe.name.endswith(suffix))


def test_every_recipe_has_a_stage():
    assert len(RECIPES) >= 8
    for recipe in RECIPES:
        assert any(recipe.name.endswith(s) for s in STAGE_BY_SUFFIX), f"{recipe.name}: name must end in a stage suffix"
    names = {r.name for r in RECIPES}
    assert {"cpu-smoke-sft.yaml", "cpu-smoke-rl.yaml", "qwen2.5-7b-sft.yaml", "qwen2.5-7b-grpo.yaml"} <= names


@pytest.fixture
def pretend_bf16_gpu(monkeypatch):
    """transformers refuses bf16 without an Ampere GPU; that hardware check is the only thing pretended here."""
    import transformers.training_args

    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda: True)


@pytest.mark.parametrize("recipe", [r for r in RECIPES if stage_of(r) in ("sft", "rl")], ids=lambda p: p.name)
def test_trl_recipes_validate(recipe, pretend_bf16_gpu):
    import importlib

    module = importlib.import_module({"sft": "training.sft", "rl": "training.rl"}[stage_of(recipe)])
    script_args, training_args, model_args = module.make_parser().parse_args_and_config(["--config", str(recipe)])
    assert script_args.dataset_name and model_args.model_name_or_path and training_args.output_dir
    assert not getattr(training_args, "packing", False)
    if stage_of(recipe) == "sft":
        assert training_args.completion_only_loss is True
    else:
        assert training_args.reward_weights is None or len(training_args.reward_weights) == len(
            script_args.reward_funcs
        )
        # trl's rule: the generation batch must split into whole groups
        assert (training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps) % (
            training_args.num_generations
        ) == 0
    if recipe.name.startswith("cpu-smoke"):
        assert training_args.bf16 is False and model_args.dtype == "float32"
        assert not getattr(training_args, "use_vllm", False)


def test_reference_sft_recipe_matches_the_design(pretend_bf16_gpu):
    from training.sft import make_parser

    _, args, model = make_parser().parse_args_and_config(["--config", str(RECIPES_DIR / "qwen2.5-7b-sft.yaml")])
    assert model.model_name_or_path == "Qwen/Qwen2.5-7B-Instruct"
    assert (args.learning_rate, args.lr_scheduler_type.value, args.warmup_steps) == (1e-5, "cosine", 0.1)
    assert args.num_train_epochs == 3 and args.max_length == 16384 and args.bf16
    accelerate_processes = 4
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps * accelerate_processes == 64


def test_trl_stage_flags_override_the_recipe():
    from training.sft import make_parser

    recipe = str(RECIPES_DIR / "cpu-smoke-sft.yaml")
    _, args, _ = make_parser().parse_args_and_config(["--config", recipe, "--output_dir", "elsewhere"])
    assert args.output_dir == "elsewhere"


def test_unknown_recipe_keys_and_flags_fail_with_one_line_naming_the_nearest(tmp_path, capsys):
    from critic.configs import ConfigError
    from training.rl import make_parser

    bad = tmp_path / "bad-rl.yaml"
    bad.write_text((RECIPES_DIR / "cpu-smoke-rl.yaml").read_text() + "lerning_rate: 1.0e-6\n")
    with pytest.raises(ConfigError, match="unknown key 'lerning_rate' \\(nearest valid key: 'learning_rate'\\)"):
        make_parser().parse_args_and_config(["--config", str(bad)])
    with pytest.raises(ConfigError, match="unknown flag '--num_generation' \\(nearest valid flag: '--num_generations'"):
        make_parser().parse_args_and_config(["--config", str(RECIPES_DIR / "cpu-smoke-rl.yaml"),
                                             "--num_generation", "2"])
    bad.write_text((RECIPES_DIR / "cpu-smoke-rl.yaml").read_text().replace("first_error, format", "first_error, nope"))
    with pytest.raises(ValueError, match="nope"):
        make_parser().parse_args_and_config(["--config", str(bad)])
    # through the CLI: exit 2 and exactly one line on stderr
    typo = tmp_path / "typo-sft.yaml"
    typo.write_text((RECIPES_DIR / "cpu-smoke-sft.yaml").read_text() + "packng: false\n")
    assert main(["sft", "--config", str(typo)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown key 'packng' (nearest valid key: 'packing')" in err


def test_trl_parser_still_takes_env_and_known_keys(tmp_path, monkeypatch):
    from training.sft import make_parser

    monkeypatch.delenv("DEEPCRITIC_TEST_ENV", raising=False)
    recipe = tmp_path / "env-sft.yaml"
    recipe.write_text((RECIPES_DIR / "cpu-smoke-sft.yaml").read_text() + "env:\n  DEEPCRITIC_TEST_ENV: '1'\n")
    _, args, _ = make_parser().parse_args_and_config(["--config", str(recipe)])
    assert args.max_steps == 6
    import os

    assert os.environ.get("DEEPCRITIC_TEST_ENV") == "1"


def test_reference_recipes_carry_the_reference_values(pretend_bf16_gpu):
    from training.mc_labels import MCLabelConfig
    from training.seed import SeedConfig
    from training.sft import make_parser

    seed = SeedConfig.from_yaml(RECIPES_DIR / "qwen2.5-72b-seed.yaml")
    assert (seed.teacher_context, seed.deep_samples, seed.deep_temperature, seed.max_easy_correct, seed.easy_cap,
            seed.one_solution_per_problem, seed.merge_max_tokens) == ("whole", 16, 1.0, 250, "random", True, 2048)
    mc = MCLabelConfig.from_yaml(RECIPES_DIR / "qwen2.5-7b-mc-label.yaml")
    assert (mc.rollout_max_tokens, mc.rollouts, mc.rollout_temperature, mc.rollout_top_p) == (4096, 8, 0.7, 0.9)
    _, sft, _ = make_parser().parse_args_and_config(["--config", str(RECIPES_DIR / "qwen2.5-7b-sft.yaml")])
    assert sft.save_only_model is True


def test_vllm_serve_invocations_match_trls_cli():
    """Every `trl vllm-serve ...` line in the recipes and their README parses with trl's own vllm-serve parser."""
    import re
    import shlex

    from trl.scripts.vllm_serve import make_parser

    texts = [(RECIPES_DIR / "README.md").read_text()] + [r.read_text() for r in RECIPES]
    lines = [m.group(1) for text in texts for m in re.finditer(r"trl vllm-serve ([^&\n]*)", text)]
    assert lines, "the recipes document a trl vllm-serve command"
    for line in lines:
        args = [a for a in shlex.split(line.replace("\\", "")) if a]
        (script_args, remaining) = make_parser().parse_args_and_config(args, return_remaining_strings=True)
        assert remaining == [] and script_args.model


def test_gpu_extra_pins_a_vllm_that_trl_supports():
    """pyproject's gpu extra pins vLLM inside the range trl declares for its vllm extra (trl checks it at run time)."""
    import tomllib
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    gpu = [Requirement(r) for r in project["project"]["optional-dependencies"]["gpu"]]
    vllm = next(r for r in gpu if r.name == "vllm")
    pinned = [spec.version for spec in vllm.specifier if spec.operator == "=="]
    assert len(pinned) == 1, f"pin one vLLM version, got {vllm}"
    trl_vllm = next(Requirement(r) for r in requires("trl") if r.startswith("vllm") and 'extra == "vllm"' in r)
    assert trl_vllm.specifier.contains(pinned[0]), f"trl declares {trl_vllm.specifier}, gpu extra pins {pinned[0]}"


@pytest.mark.parametrize("recipe", [r for r in RECIPES if stage_of(r) in ("seed", "mc-label")], ids=lambda p: p.name)
def test_pipeline_recipes_validate(recipe):
    stage = stage_of(recipe)
    args = build_parser().parse_args([stage, "--config", str(recipe), "--output_dir", "somewhere"])
    config_type = _pipeline_configs()[stage]
    cfg = config_type.from_yaml(args.config, **{name: getattr(args, name, None) for name in config_type.model_fields})
    assert cfg.output_dir == "somewhere"
    role = {"mc-label": "generator", "seed": "teacher"}[stage]
    if cfg.engine_args:  # the recipe's engine options are real options of the engine its spec builds
        if getattr(cfg, role).startswith("vllm:"):
            pytest.importorskip("vllm")
        from critic.engines.options import engine_args_for

        assert engine_args_for({role: getattr(cfg, role)}, cfg.engine_args)[role] == cfg.engine_args[role]


def test_pipeline_cli_reports_invalid_config(tmp_path, capsys):
    recipe = RECIPES_DIR / "cpu-smoke-mc-label.yaml"
    assert main(["mc-label", "--config", str(recipe), "--high_min", "9"]) == 2
    assert "low_max < high_min <= rollouts" in capsys.readouterr().err
    bad = tmp_path / "bad-seed.yaml"
    bad.write_text((RECIPES_DIR / "cpu-smoke-seed.yaml").read_text() + "typo_field: 3\n")
    assert main(["seed", "--config", str(bad)]) == 2
    assert "typo_field" in capsys.readouterr().err


def test_accelerate_config_loads():
    from accelerate.commands.config.config_args import ClusterConfig
    from accelerate.utils import DistributedType

    config = ClusterConfig.from_yaml_file(str(RECIPES_DIR / "accelerate/zero3.yaml"))
    assert config.distributed_type == DistributedType.DEEPSPEED
    assert config.deepspeed_config["zero_stage"] == 3 and config.deepspeed_config["zero3_save_16bit_model"]
    assert config.num_processes == 4 and config.mixed_precision == "bf16"


def test_smoke_data_renders_in_the_trained_format():
    from training.sft import load_messages_dataset, to_prompt_completion

    solutions = {s.id: s for s in load_labeled_solutions("recipes/data/smoke-labels.jsonl")}
    assert {s.label0 == -1 for s in solutions.values()} == {True, False}
    dataset = load_messages_dataset("recipes/data/smoke-labels.jsonl")
    for row in dataset:
        solution = solutions[row["id"]]
        critique = parse_critique(row["messages"][-1]["content"], len(solution.steps))
        assert critique.status == "ok" and critique.first_wrong_step1 == label0_to_step1(solution.label0)
    pairs = to_prompt_completion(dataset)
    assert [m["role"] for m in pairs[0]["prompt"]] == ["system", "user"]
    assert [m["role"] for m in pairs[0]["completion"]] == ["assistant"]

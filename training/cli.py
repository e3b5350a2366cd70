"""``deepcritic train``: the four stages of the critic recipe.

    deepcritic train mc-label --config training/recipes/cpu-smoke-mc-label.yaml --output_dir runs/mc
    deepcritic train seed     --config training/recipes/cpu-smoke-seed.yaml --input runs/mc/labels.jsonl
    deepcritic train sft      --config training/recipes/cpu-smoke-sft.yaml --output_dir runs/sft
    deepcritic train rl       --config training/recipes/cpu-smoke-rl.yaml --output_dir runs/rl

``mc-label`` and ``seed`` take a YAML of their config fields; any field can be overridden as ``--<field> value``.
``sft`` and ``rl`` take trl recipes (``TrlParser``: every SFTConfig/GRPOConfig/ModelConfig field, YAML or flags);
``sft --help`` / ``rl --help`` list them all. See training/recipes/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import typing

from pydantic import ValidationError

from critic.configs import config_error_line
from training.common import PipelineConfig

_EPILOG = """\
examples:
  deepcritic train mc-label --config training/recipes/cpu-smoke-mc-label.yaml --output_dir runs/mc
  deepcritic train seed --config training/recipes/cpu-smoke-seed.yaml --input runs/mc/labels.jsonl
  deepcritic train sft --config training/recipes/cpu-smoke-sft.yaml --output_dir runs/sft
  deepcritic train rl --config training/recipes/cpu-smoke-rl.yaml --output_dir runs/rl
  accelerate launch --config_file training/recipes/accelerate/zero3.yaml -m training.cli \\
      sft --config training/recipes/qwen2.5-7b-sft.yaml
"""

_TRL_STAGES = {"sft": "training.sft", "rl": "training.rl"}


def _pipeline_configs() -> dict[str, type[PipelineConfig]]:
    from training.mc_labels import MCLabelConfig
    from training.seed import SeedConfig

    return {"mc-label": MCLabelConfig, "seed": SeedConfig}


def _add_config_flags(parser: argparse.ArgumentParser, config: type[PipelineConfig]) -> None:
    parser.add_argument("--config", help="YAML file of the fields below")
    for name, info in config.model_fields.items():
        is_list = typing.get_origin(info.annotation) is list
        default = "required" if info.is_required() else f"default: {info.get_default(call_default_factory=True)}"
        text = f"{info.description} ({default})" if info.description else f"({default})"
        parser.add_argument(f"--{name}", nargs="+" if is_list else None, default=None, help=text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepcritic train",
        description="Train a deliberate critic: Monte-Carlo labels, seed critiques, SFT, GRPO.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="stage", required=True, metavar="{mc-label,seed,sft,rl}")
    helps = {
        "mc-label": "first-error labels for sampled solutions by Monte-Carlo rollouts",
        "seed": "deliberate seed critiques from a teacher model (SFT data)",
    }
    for stage, config in _pipeline_configs().items():
        _add_config_flags(sub.add_parser(stage, help=helps[stage], description=config.__doc__), config)
    sub.add_parser("sft", help="supervised fine-tuning on seed critiques (trl SFTTrainer; trl flags)", add_help=False)
    sub.add_parser("rl", help="GRPO on step-labelled solutions (trl GRPOTrainer; trl flags)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if argv and argv[0] in _TRL_STAGES:
        import importlib

        return importlib.import_module(_TRL_STAGES[argv[0]]).cli(argv[1:])

    args = build_parser().parse_args(argv)
    config_type = _pipeline_configs()[args.stage]
    overrides = {name: getattr(args, name) for name in config_type.model_fields}
    try:
        cfg = config_type.from_yaml(args.config, **overrides)
        cfg.check_files()
    except ValidationError as exc:  # bad values or unknown keys: one line naming the nearest valid key
        print(f"deepcritic train {args.stage}: invalid config: {config_error_line(exc, config_type)}", file=sys.stderr)
        return 2
    except ValueError as exc:  # an unreadable config or template file
        print(f"deepcritic train {args.stage}: invalid config: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    if args.stage == "mc-label":
        from training.mc_labels import run_mc_labels

        stats = run_mc_labels(cfg)
    else:
        from training.seed import run_seed

        stats = run_seed(cfg)
    print(json.dumps(stats, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

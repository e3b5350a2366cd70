"""``deepcritic train``: the four stages of the critic recipe.

    deepcritic train mc-label --config training/recipes/cpu-smoke-mc-label.yaml --output_dir runs/mc
    deepcritic train seed     --config training/recipes/cpu-smoke-seed.yaml --input runs/mc/labels.jsonl
    deepcritic train sft      --config training/recipes/cpu-smoke-sft.yaml --output_dir runs/sft
    deepcritic train rl       --config training/recipes/cpu-smoke-rl.yaml --output_dir runs/rl

``mc-label`` and ``seed`` take a YAML of their config fields; any field can be overridden as ``--<field> value``.
``sft`` and ``rl`` take trl recipes (``TrlParser``: every SFTConfig/GRPOConfig/ModelConfig field, YAML or flags);
``sft --help`` / ``rl --help`` list them all. See training/recipes/README.md.

``mc-label`` and ``seed`` are long jobs (critic.jobs): ``--shard i/N`` runs one part (merge the N output folders with
``deepcritic merge``), ``--retry-errors`` reruns error rows, ``--generator-args`` / ``--teacher-args`` pass engine
options; exit codes 0 done, 1 some error rows, 2 usage error, 3 engine or server failure (rerun to resume).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from pydantic import ValidationError

from critic.commandline import (
    add_config_file_flag,
    add_config_flags,
    add_engine_args_flags,
    add_flag,
    cli_main,
    config_description,
    split_global_flags,
)
from critic.configs import ConfigError, config_error_line
from training.pipeline import PipelineConfig

_EPILOG = """\
examples:
  deepcritic train mc-label --config training/recipes/cpu-smoke-mc-label.yaml --output_dir runs/mc
  deepcritic train seed --config training/recipes/cpu-smoke-seed.yaml --input runs/mc/labels.jsonl
  deepcritic train seed --config training/recipes/qwen2.5-72b-seed.yaml --shard 3/8 --output_dir runs/seed-3
  deepcritic train sft --config training/recipes/cpu-smoke-sft.yaml --output_dir runs/sft
  deepcritic train rl --config training/recipes/cpu-smoke-rl.yaml --output_dir runs/rl
  accelerate launch --config_file training/recipes/accelerate/zero3.yaml -m training.cli \\
      sft --config training/recipes/qwen2.5-7b-sft.yaml
"""

_TRL_STAGES = {"sft": "training.sft", "rl": "training.rl"}
# The engine role of each data stage: --<role>-args and engine_args.<role>.
_ROLES = {"mc-label": "generator", "seed": "teacher"}


def _pipeline_configs() -> dict[str, type[PipelineConfig]]:
    from training.mc_labels import MCLabelConfig
    from training.seed import SeedConfig

    return {"mc-label": MCLabelConfig, "seed": SeedConfig}


def _add_config_flags(parser: argparse.ArgumentParser, config: type[PipelineConfig], role: str) -> None:
    add_config_file_flag(parser)
    add_flag(parser, "--retry-errors", action="store_true",
                        help="also rerun items whose row is an error row")
    add_engine_args_flags(parser, (role,))
    # The fields: --<field> (trl's spelling, as in the recipes), help and default from the config.
    add_config_flags(parser, config, separator="_", list_nargs=True, title=f"config keys of {config.__name__}")


def _add_stages(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest="stage", required=True, metavar="{mc-label,seed,sft,rl}")
    helps = {
        "mc-label": "first-error labels for sampled solutions by Monte-Carlo rollouts",
        "seed": "deliberate seed critiques from a teacher model (SFT data)",
    }
    for stage, config in _pipeline_configs().items():
        stage_parser = sub.add_parser(stage, help=helps[stage], description=config_description(config),
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_config_flags(stage_parser, config, _ROLES[stage])
        stage_parser.set_defaults(run=_run_stage, prog=f"deepcritic train {stage}")
    # Listed for --help only: handover() gives these command lines to trl's parser before argparse sees them.
    sub.add_parser("sft", help="supervised fine-tuning on seed critiques (trl SFTTrainer; trl flags)", add_help=False)
    sub.add_parser("rl", help="GRPO on step-labelled solutions (trl GRPOTrainer; trl flags)", add_help=False)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """``deepcritic train``'s parser (the mc-label and seed stages; sft / rl are trl's)."""
    return _add_stages(argparse.ArgumentParser(
        prog="deepcritic train",
        description="Train a deliberate critic: Monte-Carlo labels, seed critiques, SFT, GRPO.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ))


def make_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``train`` in the ``deepcritic`` registry (agent.cli)."""
    return _add_stages(subparsers.add_parser(
        "train", help="training: seed, sft, mc-label, rl", epilog=_EPILOG,
        description="Train a deliberate critic: Monte-Carlo labels, seed critiques, SFT, GRPO.",
        formatter_class=argparse.RawDescriptionHelpFormatter))


def handover(argv: list[str]) -> bool:
    """True when ``argv`` (after ``train``) is a trl stage, whose command line trl's parser reads (:func:`main`)."""
    return bool(argv) and argv[0] in _TRL_STAGES


def _progress_logs() -> None:
    """Training stages report their progress as log lines (INFO, with the time) on stderr."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _run_stage(args: argparse.Namespace) -> int:
    """Run ``train mc-label`` / ``train seed``; the exit code (critic.jobs)."""
    from critic.jobs import EXIT_OK, EXIT_ROW_ERRORS

    _progress_logs()
    prog = args.prog
    config_type = _pipeline_configs()[args.stage]
    overrides = {name: getattr(args, name, None) for name in config_type.model_fields if name != "engine_args"}
    try:
        cfg = config_type.from_yaml(args.config, **overrides)
    except ValidationError as exc:  # bad values or unknown keys: one line naming the nearest valid key
        raise ConfigError(f"invalid config: {config_error_line(exc, config_type)}") from None
    cfg.check_files()
    role = _ROLES[args.stage]
    role_args = getattr(args, f"{role}_args", None)
    if role_args or cfg.engine_args:
        from critic.engines.options import engine_args_for

        options = engine_args_for({role: getattr(cfg, role)}, cfg.engine_args, {role: role_args})
        cfg = cfg.model_copy(update={"engine_args": {r: o for r, o in options.items() if o}})
    if args.stage == "mc-label":
        from training.mc_labels import run_mc_labels

        stats = run_mc_labels(cfg, retry_errors=args.retry_errors)
    else:
        from training.seed import run_seed

        stats = run_seed(cfg, retry_errors=args.retry_errors)
    print(json.dumps(stats, indent=2, sort_keys=True))
    if stats.get("errors"):
        print(f"{prog}: {stats['errors']} items ended as error rows in {cfg.output_dir}/results.jsonl (their 'error' "
              "field names the cause); rerun with --retry-errors to retry them", file=sys.stderr)
        return EXIT_ROW_ERRORS
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """``deepcritic train STAGE ...``; the exit code (critic.jobs: 0, 1 error rows, 2 usage, 3 engine)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    rest, _ = split_global_flags(argv)
    if handover(rest):  # trl's parser and trl's logging: a training run's progress is its output
        import importlib

        _progress_logs()

        return importlib.import_module(_TRL_STAGES[rest[0]]).cli(rest[1:])
    return cli_main(build_parser(), argv, prog="deepcritic train")


if __name__ == "__main__":
    sys.exit(main())

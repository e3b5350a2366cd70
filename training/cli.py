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
import typing

from pydantic import ValidationError

from critic.configs import config_error_line
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
    parser.add_argument("--config", help="YAML file of the fields below")
    parser.add_argument(f"--{role}-args", action="append", metavar="OPTS", dest="role_args",
                        help=f"{role} engine options: JSON or key=value, repeatable (vLLM engine arguments such as "
                             "tensor_parallel_size=4, or OpenAI engine settings such as max_concurrency=256); "
                             f"YAML: engine_args: {{{role}: {{...}}}}")
    parser.add_argument("--retry-errors", action="store_true", help="also rerun items whose row is an error row")
    for name, info in config.model_fields.items():
        if name == "engine_args":
            continue  # a mapping: --<role>-args above, or the YAML file
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
        _add_config_flags(sub.add_parser(stage, help=helps[stage], description=config.__doc__), config,
                          _ROLES[stage])
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
    from critic.engines.base import EngineDead, EngineError
    from critic.io import OutputLocked
    from critic.jobs import EXIT_OK, EXIT_ROW_ERRORS, EXIT_USAGE, engine_failure

    prog = f"deepcritic train {args.stage}"
    config_type = _pipeline_configs()[args.stage]
    overrides = {name: getattr(args, name) for name in config_type.model_fields if name != "engine_args"}
    try:
        cfg = config_type.from_yaml(args.config, **overrides)
        cfg.check_files()
        role = _ROLES[args.stage]
        if args.role_args or cfg.engine_args:
            from critic.engines.options import engine_args_for

            spec = getattr(cfg, role)
            options = engine_args_for({role: spec}, cfg.engine_args, {role: args.role_args})
            cfg = cfg.model_copy(update={"engine_args": {r: o for r, o in options.items() if o}})
    except ValidationError as exc:  # bad values or unknown keys: one line naming the nearest valid key
        print(f"{prog}: invalid config: {config_error_line(exc, config_type)}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, EngineError) as exc:  # an unreadable config or template file, a bad engine option
        print(f"{prog}: invalid config: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.stage == "mc-label":
            from training.mc_labels import run_mc_labels

            stats = run_mc_labels(cfg, retry_errors=args.retry_errors)
        else:
            from training.seed import run_seed

            stats = run_seed(cfg, retry_errors=args.retry_errors)
    except EngineDead as exc:
        return engine_failure(prog, exc)
    except (OutputLocked, EngineError, FileNotFoundError, ValueError) as exc:
        print(f"{prog}: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(stats, indent=2, sort_keys=True))
    if stats.get("errors"):
        print(f"{prog}: {stats['errors']} items ended as error rows in {cfg.output_dir}/results.jsonl (their 'error' "
              "field names the cause); rerun with --retry-errors to retry them", file=sys.stderr)
        return EXIT_ROW_ERRORS
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

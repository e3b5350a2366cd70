"""``deepcritic eval ...`` and ``deepcritic view ...``: thin argparse layers over eval's public functions."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from critic.commandline import (
    UsageError,
    add_config_flags,
    add_engine_args_flags,
    add_flag,
    build_config,
    cli_main,
    config_description,
)

PROG = "deepcritic eval"

DESCRIPTION = """\
Measure critics and the critique-refine loop. Every run writes one folder: predictions / samples (JSONL, resumable:
rerun the same command to continue), metrics.json, report.md, PNG plots and config.json.

commands:
  error-id   first-wrong-step identification on ProcessBench, MR-GSM8K or a PRM800K-format file
  refine     refinement success on GSM8K test / MATH-500: accuracy before -> after, w->c, c->w
  tts        verified majority voting: plain vs critic-filtered majority, accuracy vs N
  report     re-render one run's report, or put several runs side by side

A run holds its folder: a second run on the same folder is refused. --shard i/N runs one part of the data (a job
array of N tasks covers it exactly once); `deepcritic merge -o DIR SHARD_DIRS...` joins them and recomputes metrics.
exit codes: 0 done, 1 some rows ended as error rows (counted in metrics as wrong; --retry-errors reruns them),
2 usage error (or the folder is held by another run), 3 engine or server failure (rerun the same command to resume)
"""

ERROR_ID_EXAMPLES = """\
examples:
  deepcritic eval error-id --critic sympy --data processbench --data mr-gsm8k -o runs/sympy
  deepcritic eval error-id --critic embedded --data processbench-gsm8k --limit 20 --max-tokens 256 -o runs/smol
  deepcritic eval error-id --critic vllm:PATH/TO/DeepCritic-7B-RL --data processbench --max-tokens 8192 -o runs/dc
  deepcritic eval error-id --critic vllm:Qwen/Qwen2.5-7B-Instruct --prompt processbench --decoding maj -k 8 \\
      --temperature 0.7 --data processbench-math -o runs/qwen-maj8
  deepcritic eval error-id --config run.yaml -o runs/x     # YAML/JSON with the same fields; flags override
  deepcritic eval error-id --critic vllm:Keven16/DeepCritic-7B-RL-PRM800K --protocol deepcritic \\
      --prompt-template DeepCritic/ProcessBench/code/templates/critique_template_new.txt --data processbench -o runs/p1
  deepcritic eval error-id --critic vllm:Qwen/Qwen2.5-7B-Instruct --protocol processbench \\
      --prompt-template ProcessBench/code/templates/critique_template.txt --data processbench -o runs/qwen-pb
  deepcritic eval error-id --critic vllm:Qwen/Qwen2.5-72B-Instruct --critic-args tensor_parallel_size=4 \\
      --data processbench --shard 2/4 -o runs/qwen72b-part2      # one task of a 4-way job array

protocols (--protocol; explicit flags override a preset's values):
  ours          greedy, 2048 tokens; our prompt and parser (sample / maj: T=0.7; maj k=8)
  deepcritic    pass@1 = 1 sample at T=0.6, top_p 0.9, 32768 tokens, seed 42 (maj: k=8, T=1.0); Step i tagging
                'contains'; no system message; answer = last \\boxed{} as int; maj votes only with **Answer**:
  processbench  greedy, 8192 tokens, seed 42 (maj: k=8, T=1.0, top_p 0.9); 0-based <paragraph_i>; no system
                message; answer = last \\boxed{} as int

data: processbench (= all four subsets), processbench-gsm8k, processbench-math, processbench-olympiadbench,
processbench-omnimath, mr-gsm8k, or a ProcessBench/PRM800K-format file path (repeat --data for several).
"""

REFINE_EXAMPLES = """\
examples:
  deepcritic eval refine --data gsm8k-test --limit 10 --max-tokens 256 -o runs/refine-smol
  deepcritic eval refine --generator vllm:Qwen/Qwen2.5-7B-Instruct --critic vllm:PATH/TO/DeepCritic-7B-RL \\
      --data gsm8k-test --data math500 --ablations -o runs/refine
  deepcritic eval refine --initial outputs.jsonl --data math500 -o runs/refine-existing
"""

TTS_EXAMPLES = """\
examples:
  deepcritic eval tts --data gsm8k-test --limit 5 -n 4 --max-tokens 256 -o runs/tts-smol
  deepcritic eval tts --generator vllm:Qwen/Qwen2.5-7B-Instruct --critic vllm:PATH/TO/DeepCritic-7B-RL \\
      --data math500 -n 16 -o runs/tts
"""

REPORT_EXAMPLES = """\
examples:
  deepcritic eval report runs/sympy                      # rewrite that run's report.md and plot
  deepcritic eval report runs/sympy runs/smol -o runs/compare
"""


CliError = UsageError  # a user error: one line, exit code 2

RAW = argparse.RawDescriptionHelpFormatter
ROLES = ("generator", "critic")
SHORT_FLAGS = {"k": ["-k"], "n": ["-n"]}


def _run_flags(p: argparse.ArgumentParser) -> None:
    """The flags of one invocation (not config keys): the run folder, --config, resuming and progress."""
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="run folder (created; rerun to resume)")
    p.add_argument("--config", metavar="FILE", help="YAML or JSON with the run's keys (a run's config.json works "
                                                    "too); flags given override it; an unknown key is an error")
    add_flag(p, "--retry-errors", action="store_true", dest="retry_errors",
                   help="also rerun items whose row is an error row")
    add_flag(p, "--no-progress", action="store_true", help="no progress bar")


def _run_parser(sub, name: str, config: type, help: str, epilog: str, roles: tuple[str, ...],
                run) -> argparse.ArgumentParser:
    """One run command: its config's flags (defaults and help from the config), the run flags, engine options."""
    p = sub.add_parser(name, help=help, description=config_description(config), epilog=epilog,
                       formatter_class=RAW)
    _run_flags(p)
    add_config_flags(p, config, names=SHORT_FLAGS, title=f"run settings (config keys of {config.__name__})")
    add_engine_args_flags(p, roles)
    p.set_defaults(run=run, config_type=config)
    return p


def add_commands(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Fill ``parser`` (``deepcritic eval``) with its commands: error-id, refine, tts, report."""
    from eval.error_id import ErrorIdConfig
    from eval.refine_success import RefineConfig
    from eval.tts import TtsConfig

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    err = _run_parser(sub, "error-id", ErrorIdConfig, "first-wrong-step identification", ERROR_ID_EXAMPLES,
                      ("critic",), _cmd_error_id)
    err.add_argument("--reference", metavar="YAML", help="published numbers per subset to compare with in report.md "
                                                         "and f1.png (averages only over subsets on both sides)")
    _run_parser(sub, "refine", RefineConfig, "refinement success before -> after", REFINE_EXAMPLES, ROLES,
                _cmd_refine)
    _run_parser(sub, "tts", TtsConfig, "verified majority voting vs plain majority", TTS_EXAMPLES, ROLES, _cmd_tts)

    rep = sub.add_parser("report", help="re-render or compare run folders", epilog=REPORT_EXAMPLES,
                         formatter_class=RAW)
    rep.add_argument("runs", nargs="+", metavar="DIR", help="run folders (config.json + metrics.json)")
    rep.add_argument("-o", "--out", metavar="DIR", help="comparison folder (needed for several runs)")
    rep.add_argument("--reference", metavar="YAML", help="published numbers to compare one error-id run with")
    rep.set_defaults(run=_cmd_report)
    parser.set_defaults(prog=PROG, run=lambda args: _no_command(parser))
    return parser


def _no_command(parser: argparse.ArgumentParser) -> int:
    """``deepcritic eval`` without a command: its help, exit code 2."""
    from critic.jobs import EXIT_USAGE

    parser.print_help()
    return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    """``deepcritic eval``'s parser (used on its own by :func:`main`)."""
    return add_commands(argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, formatter_class=RAW))


def make_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``eval`` in the ``deepcritic`` registry (agent.cli)."""
    return add_commands(subparsers.add_parser("eval", help="evaluation: error-id, refine, tts, report",
                                              description=DESCRIPTION, formatter_class=RAW))


def _config_fields(args: argparse.Namespace) -> dict:
    """The run's fields: the ``--config`` file (a run's config.json works too), then the flags given."""
    from critic.configs import read_mapping
    from eval.rundir import PROMPTS_KEY

    fields: dict = {}
    if args.config:
        fields.update(read_mapping(args.config))
        fields.pop(PROMPTS_KEY, None)  # a run's own record of its prompts, not a setting
        if fields.get("kind", args.command) != args.command:
            raise CliError(f"{args.config} is a {fields['kind']} config, not {args.command}")
    fields.update({name: getattr(args, name) for name in args.config_type.model_fields if hasattr(args, name)})
    fields.pop("kind", None)
    if "name" not in fields:
        fields["name"] = Path(args.out).name
    flags = {role: getattr(args, f"{role}_args", None) for role in ROLES if hasattr(args, f"{role}_args")}
    specs = {role: fields.get(role, "embedded") for role in flags}
    if specs.get("critic") == "sympy":
        specs.pop("critic")
        if flags.pop("critic", None):
            raise CliError("the SymPy critic runs no engine: drop --critic-args")
    config_args = fields.get("engine_args") or {}
    if not isinstance(config_args, dict):
        raise CliError("engine_args: expected a mapping of role -> options")
    if any(flags.values()) or config_args:
        from critic.engines.options import engine_args_for

        # Checked now (an unknown option is one line before anything starts); roles on one spec share options.
        fields["engine_args"] = {role: options for role, options in engine_args_for(specs, config_args, flags).items()
                                 if options}
    return fields


def _build_config(args: argparse.Namespace) -> Any:
    """The run's pydantic config, or a one-line ConfigError (an unknown key names the nearest valid one)."""
    given = {name: flag for name, flag in (getattr(args, "_flag_names", None) or {}).items() if hasattr(args, name)}
    return build_config(args.config_type, _config_fields(args), given)


def _run_and_print(
    run: Callable[..., dict], config: Any, args: argparse.Namespace, table: Callable[[dict], str]
) -> int:
    """Run (or resume) one evaluation into ``args.out``, print its table; the exit code (critic.jobs)."""
    from critic.jobs import EXIT_OK, EXIT_ROW_ERRORS
    from eval.rundir import error_rows

    metrics = run(config, args.out, progress=not args.no_progress, retry_errors=bool(args.retry_errors))
    print(table(metrics))
    print(f"\nwrote {Path(args.out) / 'report.md'}")
    errors = error_rows(args.out)
    if errors:
        print(f"{errors} rows in {args.out} are error rows (their 'error' field names the cause; metrics count them "
              "as wrong); rerun with --retry-errors to retry them")
        return EXIT_ROW_ERRORS
    return EXIT_OK


def _cmd_error_id(args: argparse.Namespace) -> int:
    from functools import partial

    from eval.error_id import run_error_id
    from eval.reference import load_reference
    from eval.tables import error_id_table

    config = _build_config(args)
    reference = load_reference(args.reference) if args.reference else None
    return _run_and_print(partial(run_error_id, reference=reference), config, args, error_id_table)


def _cmd_refine(args: argparse.Namespace) -> int:
    from eval.refine_success import run_refine
    from eval.tables import refine_table

    return _run_and_print(run_refine, _build_config(args), args, refine_table)


def _cmd_tts(args: argparse.Namespace) -> int:
    from eval.tables import tts_table
    from eval.tts import run_tts

    return _run_and_print(run_tts, _build_config(args), args, tts_table)


def _cmd_report(args: argparse.Namespace) -> int:
    from eval.reference import load_reference
    from eval.report import compare_runs, write_report

    reference = load_reference(args.reference) if args.reference else None
    if len(args.runs) == 1 and not args.out:
        print(f"wrote {write_report(args.runs[0], reference)}")
        return 0
    if reference is not None:
        raise CliError("--reference compares one run (give one run folder and no -o)")
    if not args.out:
        raise CliError("several runs: give -o DIR for the comparison")
    path = compare_runs(args.runs, args.out)
    print(path.read_text())
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``deepcritic eval COMMAND ...``; returns the exit code (critic.jobs: 0, 1 error rows, 2 usage, 3 engine)."""
    return cli_main(build_parser(), argv, prog=PROG)


VIEW_PROG = "deepcritic view"


def _view_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("file", help="solve/critique --json output, or refine JSONL")
    parser.add_argument("-o", "--out", metavar="OUT.html", help="output page (default: FILE with .html)")
    parser.set_defaults(run=_cmd_view, prog=VIEW_PROG)
    return parser


VIEW_HELP = dict(
    formatter_class=RAW,
    description="Turn a solve/refine output (one SolveResult JSON, or a JSONL of refine rows) into one static HTML "
                "page: steps coloured by the critic's verdict, each step's critique beside it, SymPy evidence, and "
                "what each refinement kept and replaced.",
    epilog="examples:\n  deepcritic solve --json \"What is 17 * 24?\" > solve.json && deepcritic view solve.json\n"
           "  deepcritic view refined.jsonl -o refined.html")


def make_view_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``view`` in the ``deepcritic`` registry (agent.cli)."""
    return _view_parser(subparsers.add_parser("view", help="browse a run's predictions", **VIEW_HELP))


def _cmd_view(args: argparse.Namespace) -> int:
    from eval.view import write_view

    if not Path(args.file).is_file():
        raise CliError(f"no such file: {args.file}")
    print(f"wrote {write_view(args.file, args.out)}")
    return 0


def view_main(argv: list[str] | None = None) -> int:
    """``deepcritic view FILE [-o OUT.html]``: one static HTML page of a solve/refine output."""
    return cli_main(_view_parser(argparse.ArgumentParser(prog=VIEW_PROG, **VIEW_HELP)), argv, prog=VIEW_PROG)

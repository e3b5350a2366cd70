"""``deepcritic eval ...`` and ``deepcritic view ...``: thin argparse layers over eval's public functions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
  deepcritic eval error-id --critic vllm:Keven16/DeepCritic-7B-RL-PRM800K --protocol deepcritic \
      --prompt-template DeepCritic/ProcessBench/code/templates/critique_template_new.txt --data processbench -o runs/p1
  deepcritic eval error-id --critic vllm:Qwen/Qwen2.5-7B-Instruct --protocol processbench \
      --prompt-template ProcessBench/code/templates/critique_template.txt --data processbench -o runs/qwen-pb

protocols (--protocol; explicit flags override a preset's values):
  ours          greedy, 2048 tokens; our prompt and parser (sample / maj: T=0.7; maj k=8)
  deepcritic    pass@1 = 1 sample at T=0.6, top_p 0.9, 32768 tokens, seed 42 (maj: k=8, T=1.0); Step i tagging
                'contains'; no system message; answer = last \\boxed{} as int; maj votes only with **Answer**:
  processbench  greedy, 8192 tokens, seed 42 (maj: k=8, T=1.0, top_p 0.9); 0-based <paragraph_i>; no system
                message; answer = last \\boxed{} as int
  deepcritic eval error-id --critic vllm:Qwen/Qwen2.5-72B-Instruct --critic-args tensor_parallel_size=4 \
      --data processbench --shard 2/4 -o runs/qwen72b-part2

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


class CliError(Exception):
    """A user error: one line, exit code 2."""


def _common(p: argparse.ArgumentParser, data_help: str) -> None:
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="run folder (created; rerun to resume)")
    p.add_argument("--data", action="append", metavar="NAME|PATH", help=data_help)
    p.add_argument("--limit", type=int, metavar="N", help="items per data set (a seeded random subset)")
    p.add_argument("--seed", type=int, metavar="S", help="seed for --limit subsets and sampling (default: 0)")
    p.add_argument("--config", metavar="FILE", help="YAML or JSON with the run's fields; flags given override it")
    p.add_argument("--name", help="label for reports (default: the folder name)")
    p.add_argument("--shard", metavar="I/N", help="only the items of shard I of N (stable hash of the item key)")
    p.add_argument("--retry-errors", action="store_true", default=None, dest="retry_errors",
                   help="also rerun items whose row is an error row")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _prompt_flags(p: argparse.ArgumentParser) -> None:
    """The critic prompt as data: a template file, the system message, the Step i tagging rule."""
    p.add_argument("--prompt-template", dest="prompt_template", metavar="FILE",
                   help="critic template: str.format text with {problem} and {tagged_response} (doubled braces for "
                        "literal ones); default: our wording")
    p.add_argument("--system-prompt", dest="system_prompt", metavar="TEXT|none",
                   help="critic system message; 'none' sends none (the model's chat template decides); default: ours "
                        "with our wording, none with a template")
    p.add_argument("--step-tagging", dest="step_tagging", choices=["startswith", "contains"],
                   help="'Step i: ' prefix unless the step starts with it (default) / contains 'Step ' (DeepCritic)")


def _engine_flags(p: argparse.ArgumentParser, roles: tuple[str, ...]) -> None:
    for role in roles:
        p.add_argument(f"--{role}-args", action="append", metavar="OPTS", dest=f"{role}_args",
                       help=f"{role} engine options: JSON or key=value, repeatable (vLLM engine arguments such as "
                            "tensor_parallel_size=4, or OpenAI engine settings such as max_concurrency=256)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter

    err = sub.add_parser("error-id", help="first-wrong-step identification", epilog=ERROR_ID_EXAMPLES,
                         formatter_class=raw)
    _common(err, "data set name or file (repeatable; default: processbench)")
    err.add_argument("--critic", metavar="SPEC", help="engine spec, or 'sympy' for the SymPy-only baseline "
                                                     "(default: embedded)")
    err.add_argument("--protocol", choices=["ours", "deepcritic", "processbench"],
                     help="preset of decoding, extraction, vote filter, tagging and index base (default: ours)")
    err.add_argument("--prompt", choices=["deliberate", "processbench"],
                     help="deliberate (1-based Step i, the trained format; default) or processbench (0-based)")
    _prompt_flags(err)
    err.add_argument("--extraction", choices=["ours", "reference"],
                     help="answer reading: ours (critic.parse) or reference (last \\boxed{} as int)")
    err.add_argument("--vote-filter", dest="vote_filter", choices=["none", "answer_marker"],
                     help="maj: answer_marker = only critiques containing **Answer**: vote")
    err.add_argument("--decoding", choices=["greedy", "sample", "maj"],
                     help="greedy (default), sample = pass@1 over -k samples, maj = maj@k (unparsed do not vote)")
    err.add_argument("-k", type=int, metavar="K", help="samples per solution for sample / maj (default: 1)")
    err.add_argument("--temperature", type=float, help="default: the protocol's (ours: 0 greedy, 0.7 sample / maj)")
    err.add_argument("--top-p", type=float, dest="top_p")
    err.add_argument("--max-tokens", type=int, dest="max_tokens", help="critique token limit (ours: 2048)")
    err.add_argument("--window", type=int, help="sequences in flight (default: sized for the engine)")
    err.add_argument("--critic-format", dest="critic_format", choices=["free", "guided"],
                     help="guided: the engine holds each critique to the trained format (default: free)")
    err.add_argument("--reference", metavar="YAML", help="published numbers per subset to compare with in report.md "
                                                         "and f1.png (averages only over subsets on both sides)")
    _engine_flags(err, ("critic",))

    ref = sub.add_parser("refine", help="refinement success before -> after", epilog=REFINE_EXAMPLES,
                         formatter_class=raw)
    _common(ref, "problem set name or file (repeatable; default: gsm8k-test and math500)")
    ref.add_argument("--generator", metavar="SPEC", help="generator engine spec (default: embedded)")
    ref.add_argument("--critic", metavar="SPEC", help="critic engine spec (default: embedded)")
    ref.add_argument("--initial", metavar="JSONL", help="existing solutions (id, problem, steps or response) "
                                                        "instead of generating them")
    ref.add_argument("--max-rounds", type=int, dest="max_rounds", help="critique rounds (default: 3)")
    ref.add_argument("--sympy", choices=["off", "veto", "prompt"], help="SymPy mode (default: veto)")
    ref.add_argument("--ablations", action="store_true", default=None,
                     help="also run the self-critic (generator critiques itself) and no-SymPy variants")
    ref.add_argument("--temperature", type=float, help="generator temperature (default: 0)")
    ref.add_argument("--max-tokens", type=int, dest="max_tokens", help="generator token limit (default: 1024)")
    ref.add_argument("--critic-max-tokens", type=int, dest="critic_max_tokens", help="default: 2048")
    _prompt_flags(ref)
    ref.add_argument("--concurrency", type=int, help="requests / loops in flight (default: sized for the engines)")
    _engine_flags(ref, ("generator", "critic"))

    tts = sub.add_parser("tts", help="verified majority voting vs plain majority", epilog=TTS_EXAMPLES,
                         formatter_class=raw)
    _common(tts, "problem set name or file (repeatable; default: gsm8k-test)")
    tts.add_argument("--generator", metavar="SPEC", help="generator engine spec (default: embedded)")
    tts.add_argument("--critic", metavar="SPEC", help="critic engine spec (default: embedded)")
    tts.add_argument("-n", type=int, metavar="N", help="samples per problem (default: 8); curve at 1, 2, 4, ..., N")
    tts.add_argument("--temperature", type=float, help="generator temperature (default: 0.7)")
    tts.add_argument("--top-p", type=float, dest="top_p")
    tts.add_argument("--max-tokens", type=int, dest="max_tokens", help="generator token limit (default: 1024)")
    tts.add_argument("--critic-max-tokens", type=int, dest="critic_max_tokens", help="default: 2048")
    _prompt_flags(tts)
    tts.add_argument("--sympy", choices=["off", "veto"], help="veto: a SymPy contradiction also rejects a sample")
    tts.add_argument("--window", type=int, help="sequences in flight per engine (default: sized for the engine)")
    _engine_flags(tts, ("generator", "critic"))

    rep = sub.add_parser("report", help="re-render or compare run folders", epilog=REPORT_EXAMPLES,
                         formatter_class=raw)
    rep.add_argument("runs", nargs="+", metavar="DIR", help="run folders (config.json + metrics.json)")
    rep.add_argument("-o", "--out", metavar="DIR", help="comparison folder (needed for several runs)")
    rep.add_argument("--reference", metavar="YAML", help="published numbers to compare one error-id run with")
    return parser


RUN_FLAGS = {"out", "config", "no_progress", "command", "reference", "retry_errors", "generator_args", "critic_args"}
ROLES = ("generator", "critic")


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
    fields.update({k: v for k, v in vars(args).items() if k not in RUN_FLAGS and v is not None})
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


def _build_config(model: Any, fields: dict) -> Any:
    """The pydantic config, or a one-line CliError (an unknown key names the nearest valid one)."""
    from pydantic import ValidationError

    from critic.configs import config_error_line

    try:
        return model(**fields)
    except ValidationError as e:
        raise CliError(config_error_line(e, model)) from None


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

    from eval.error_id import ErrorIdConfig, run_error_id
    from eval.reference import load_reference
    from eval.tables import error_id_table

    config = _build_config(ErrorIdConfig, _config_fields(args))
    reference = load_reference(args.reference) if args.reference else None
    return _run_and_print(partial(run_error_id, reference=reference), config, args, error_id_table)


def _cmd_refine(args: argparse.Namespace) -> int:
    from eval.refine_success import RefineConfig, run_refine
    from eval.tables import refine_table

    return _run_and_print(run_refine, _build_config(RefineConfig, _config_fields(args)), args, refine_table)


def _cmd_tts(args: argparse.Namespace) -> int:
    from eval.tables import tts_table
    from eval.tts import TtsConfig, run_tts

    return _run_and_print(run_tts, _build_config(TtsConfig, _config_fields(args)), args, tts_table)


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


COMMANDS = {"error-id": _cmd_error_id, "refine": _cmd_refine, "tts": _cmd_tts, "report": _cmd_report}


def _fail(prog: str, e: BaseException) -> int:
    from critic.jobs import EXIT_USAGE

    message = str(e).splitlines()[0] if str(e) else type(e).__name__
    if type(e).__name__ == "ValidationError":  # pydantic: name the field and the problem, one line
        errors = e.errors()  # type: ignore[attr-defined]
        message = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'config'}: {err['msg']}" for err in errors)
    print(f"{prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """``deepcritic eval COMMAND ...``; returns the exit code (critic.jobs: 0, 1 error rows, 2 usage, 3 engine)."""
    from critic.engines.base import EngineDead, EngineError
    from critic.io import OutputLocked
    from critic.jobs import EXIT_USAGE, engine_failure

    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:  # argparse printed the usage error or the help
        return int(e.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except EngineDead as e:
        return engine_failure(PROG, e)
    except (CliError, EngineError, OutputLocked, FileNotFoundError, ValueError, json.JSONDecodeError) as e:
        return _fail(PROG, e)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (rerun the same command to resume)", file=sys.stderr)
        return 130


VIEW_PROG = "deepcritic view"


def view_main(argv: list[str] | None = None) -> int:
    """``deepcritic view FILE [-o OUT.html]``: one static HTML page of a solve/refine output."""
    from eval.view import write_view

    parser = argparse.ArgumentParser(
        prog=VIEW_PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Turn a solve/refine output (one SolveResult JSON, or a JSONL of refine rows) into one static "
                    "HTML page: steps coloured by the critic's verdict, each step's critique beside it, SymPy "
                    "evidence, and what each refinement kept and replaced.",
        epilog="examples:\n  deepcritic solve --json \"What is 17 * 24?\" > solve.json && deepcritic view solve.json\n"
               "  deepcritic view refined.jsonl -o refined.html")
    parser.add_argument("file", help="solve/critique --json output, or refine JSONL")
    parser.add_argument("-o", "--out", metavar="OUT.html", help="output page (default: FILE with .html)")
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:
        return int(e.code or 0)
    try:
        if not Path(args.file).is_file():
            raise CliError(f"no such file: {args.file}")
        print(f"wrote {write_view(args.file, args.out)}")
        return 0
    except (CliError, FileNotFoundError, ValueError) as e:
        return _fail(VIEW_PROG, e)

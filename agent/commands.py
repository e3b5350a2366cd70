"""The loop commands of ``deepcritic``: ``solve``, ``critique``, ``refine`` and ``merge``.

Each ``make_*_parser(subparsers)`` adds one command whose flags come from its config (agent.config: defaults and help
written once there) and sets ``run(args) -> exit code``; agent.cli holds the registry of every command. Output goes to
stdout; errors are raised (critic.commandline turns them into one line and an exit code).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from agent.config import CriticRunConfig, CritiqueConfig, RefineConfig, SolveConfig
from agent.graph import RoundTrace
from critic.commandline import (
    UsageError,
    add_config_file_flag,
    add_config_flags,
    add_engine_args_flags,
    add_flag,
    config_description,
    config_from_args,
)

CliError = UsageError  # a user error: one line, exit code 2

RAW = argparse.RawDescriptionHelpFormatter


def _roles(config: type[CriticRunConfig]) -> tuple[str, ...]:
    """The engine roles a loop command runs: a generator and a critic, or (critique) a critic only."""
    return ("generator", "critic") if "generator" in config.model_fields else ("critic",)


def _loop_parser(subparsers, name: str, config: type[CriticRunConfig], help: str,
                 epilog: str) -> argparse.ArgumentParser:
    """The parser of one loop command: its config's flags, --config, the engine option flags of its roles."""
    parser = subparsers.add_parser(name, help=help, description=config_description(config), epilog=epilog,
                                   formatter_class=RAW)
    add_config_file_flag(parser)
    add_config_flags(parser, config, title="engines and loop (config keys; flags override --config)")
    add_engine_args_flags(parser, _roles(config))
    return parser


def load_config(config: type[CriticRunConfig], args: argparse.Namespace) -> CriticRunConfig:
    """The command's config: ``--config`` file, flags over it, engine options checked (one line if unknown)."""
    cfg = config_from_args(config, args, args.config)
    flags = {role: getattr(args, f"{role}_args", None) for role in _roles(config)}
    if any(flags.values()) or cfg.engine_args:
        from critic.engines.options import engine_args_for

        options = engine_args_for(cfg.engine_specs(), cfg.engine_args, flags)
        cfg = cfg.model_copy(update={"engine_args": {role: o for role, o in options.items() if o}})
    return cfg


def _engines(cfg: CriticRunConfig, roles: tuple[str, ...]) -> dict:
    """Engines per role for the one-shot commands (built now; roles on one spec share one engine)."""
    from agent.solve import resolve_engine

    specs = cfg.engine_specs()
    return {role: resolve_engine(specs[role], **cfg.engine_args.get(role, {})) for role in roles}


# ---- solve ---------------------------------------------------------------------------------------------------------


def make_solve_parser(subparsers) -> argparse.ArgumentParser:
    """``deepcritic solve PROBLEM``: generate, check, critique, refine; prints the trace (or JSON)."""
    parser = _loop_parser(subparsers, "solve", SolveConfig, "solve one problem: generate, check, critique, refine",
                          'example:\n  deepcritic solve --max-rounds 2 "What is 17 * 24?"')
    parser.add_argument("problem", help="the problem text ('-' reads it from stdin)")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON instead of a trace")
    parser.set_defaults(run=run_solve)
    return parser


def run_solve(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``deepcritic solve``; exit code 0."""
    from agent.solve import solve_with_critic

    out = out or sys.stdout
    cfg = load_config(SolveConfig, args)
    critic_prompt = cfg.critic_prompt()  # usage errors before reading stdin or starting an engine
    problem = _read_text("-").strip() if args.problem == "-" else args.problem.strip()
    if not problem:
        raise CliError("the problem is empty")
    engines = _engines(cfg, ("generator", "critic"))
    result = solve_with_critic(problem, generator=engines["generator"], critic=engines["critic"],
                               max_rounds=cfg.max_rounds, sympy=cfg.sympy, sampling=cfg.sampling(),
                               critic_prompt=critic_prompt, critic_format=cfg.critic_format)
    if args.json:
        print(result.model_dump_json(indent=2), file=out)
        return 0
    for entry in result.trace:
        print_round(entry, out)
    print(f"answer: {result.answer if result.answer is not None else '(none stated)'}", file=out)
    status = "accepted by the critic" if result.accepted else "not accepted"
    print(f"{status}; stopped: {result.stop_reason}; rounds: {result.rounds}; tokens: {result.tokens} "
          f"(generator {result.generator_tokens}, critic {result.critic_tokens})", file=out)
    return 0


# ---- critique ------------------------------------------------------------------------------------------------------


def make_critique_parser(subparsers) -> argparse.ArgumentParser:
    """``deepcritic critique [FILE]``: one critique round of a given solution."""
    parser = _loop_parser(subparsers, "critique", CritiqueConfig, "critique one solution (file or stdin)",
                          "input: a JSON object {\"problem\", \"steps\": [...]} or {\"problem\", \"response\"}, "
                          "or plain solution text with --problem.\nexamples:\n"
                          "  deepcritic critique solution.json\n"
                          "  deepcritic critique - --problem \"What is 2+2?\" < answer.txt")
    parser.add_argument("solution", nargs="?", default="-", help="solution file ('-' or omitted: stdin)")
    parser.add_argument("--problem", help="the problem text, when the input is plain solution text")
    parser.add_argument("--json", action="store_true", help="print the critique round as JSON")
    parser.set_defaults(run=run_critique)
    return parser


def run_critique(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``deepcritic critique``; exit code 0."""
    from agent.solve import critique_solution

    out = out or sys.stdout
    cfg = load_config(CritiqueConfig, args)  # usage errors before reading the input or starting an engine
    critic_prompt = cfg.critic_prompt()
    problem, steps = _solution_input(args)
    critic = _engines(cfg, ("critic",))["critic"]
    entry = critique_solution(problem, steps, critic=critic, sympy=cfg.sympy, sampling=cfg.sampling(),
                              critic_prompt=critic_prompt, critic_format=cfg.critic_format)
    if args.json:
        print(entry.model_dump_json(indent=2), file=out)
    else:
        print_round(entry, out, heading=False)
    return 0


# ---- refine --------------------------------------------------------------------------------------------------------


def make_refine_parser(subparsers) -> argparse.ArgumentParser:
    """``deepcritic refine IN -o OUT``: critique and refine a file of solutions (resumable, shardable)."""
    parser = _loop_parser(
        subparsers, "refine", RefineConfig, "critique and refine a file of solutions (resumable)",
        "input rows: {\"id\", \"problem\", \"steps\": [...] or \"response\": \"...\", \"answer\": optional gold}\n"
        "IN: a JSONL/JSON file, a datasets folder or a dataset name (e.g. processbench-gsm8k).\n"
        "A rerun resumes: ids already in OUT are skipped (error rows too, unless --retry-errors).\nexamples:\n"
        "  deepcritic refine outputs.jsonl -o refined.jsonl\n"
        "  deepcritic refine outputs.jsonl -o part-1.jsonl --shard 1/4\n"
        "exit codes: 0 done, 1 some error rows, 2 usage, 3 engine/server failure (rerun)")
    parser.add_argument("input", metavar="IN", help="input rows")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="output JSONL (appended to, resumed by id)")
    parser.add_argument("--overwrite", action="store_true", help="start OUT over instead of resuming")
    add_flag(parser, "--retry-errors", action="store_true",
                        help="also rerun ids whose row in OUT is an error row")
    add_flag(parser, "--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_refine)
    return parser


def run_refine(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``deepcritic refine``; exit code 0 done, 1 some error rows (critic.jobs)."""
    from agent.batch import refine_batch

    out = out or sys.stdout
    cfg = load_config(RefineConfig, args)
    source = Path(args.input)
    if not source.exists() and (source.suffix in {".jsonl", ".json"} or "/" in args.input):
        raise CliError(f"no such file: {args.input}")
    summary = refine_batch(args.input, args.output, generator=cfg.generator, critic=cfg.critic_spec,
                           concurrency=cfg.concurrency, max_rounds=cfg.max_rounds, sympy=cfg.sympy,
                           sampling=cfg.sampling(), overwrite=args.overwrite, limit=cfg.limit,
                           progress=not args.no_progress, critic_prompt=cfg.critic_prompt(),
                           critic_format=cfg.critic_format, retry_errors=args.retry_errors, shard=cfg.shard,
                           engine_args=cfg.engine_args)
    gold = ""
    if summary.correct_before is not None:
        gold = f"; correct before {summary.correct_before}, after {summary.correct_after}"
    print(f"wrote {summary.done} rows to {summary.out_path} ({summary.skipped} already done, {summary.errors} errors, "
          f"{summary.accepted} accepted{gold}) in {summary.seconds:.1f}s: {summary.rows_per_s:.2f} rows/s, "
          f"{summary.tokens_per_s:.0f} tok/s", file=out)
    if summary.error_rows:
        print(f"{summary.error_rows} of {summary.total} rows in {summary.out_path} are error rows (their 'error' "
              "field names the cause); rerun with --retry-errors to retry them", file=out)
    return summary.exit_code


# ---- merge ---------------------------------------------------------------------------------------------------------


def make_merge_parser(subparsers) -> argparse.ArgumentParser:
    """``deepcritic merge -o OUT IN...``: join shard outputs, one row per id."""
    parser = subparsers.add_parser(
        "merge", help="join shard outputs (JSONL files or run folders), one row per id", formatter_class=RAW,
        epilog="Rows are joined with the resume rule: per id the last row that is not an error row wins, else the "
               "last error row.\nRun folders (eval, train mc-label / seed) are joined file by file and their metrics "
               "or datasets rebuilt for the whole; shard folders are merged only all together (each i of N once).\n"
               "Inputs are read strictly: a line that is not a JSON object, or a row without its id, is an error.\n"
               "examples:\n"
               "  deepcritic merge -o refined.jsonl part-1.jsonl part-2.jsonl\n"
               "  deepcritic merge -o runs/pb runs/pb-shard1 runs/pb-shard2")
    parser.add_argument("inputs", nargs="+", metavar="IN", help="shard outputs: all JSONL files or all run folders")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="merged file or folder (replaced)")
    parser.set_defaults(run=run_merge)
    return parser


def run_merge(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """JSONL files: one row per id (critic.io.merge_jsonl). Run folders: eval runs (eval.rundir.merge_runs, metrics
    recomputed) or training stage folders (training.pipeline.merge_runs, labels / dataset rebuilt)."""
    from critic.io import hold, merge_jsonl

    out = out or sys.stdout

    inputs = [Path(p) for p in args.inputs]
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise CliError(f"no such file or folder: {missing[0]}")
    output = Path(args.output)
    if output.resolve() in {p.resolve() for p in inputs}:
        raise CliError(f"the output {output} is one of the inputs; merge into a new file or folder")
    if all(p.is_file() for p in inputs):
        with hold(output):
            result = merge_jsonl(inputs, output)
        print(f"merged {result['rows_read']} rows of {len(inputs)} files into {output}: {result['ids']} ids, "
              f"{result['error_rows']} error rows", file=out)
        return 1 if result["error_rows"] else 0
    if not all(p.is_dir() for p in inputs):
        raise CliError("give only JSONL files or only run folders to merge")
    kinds = {json.loads((p / "config.json").read_text()).get("kind") if (p / "config.json").is_file() else None
             for p in inputs}
    if kinds <= {"mc-label", "seed"}:
        from training.pipeline import merge_runs as merge_training

        stats = merge_training(inputs, output)
        print(f"merged {len(inputs)} folders into {output}: {json.dumps(stats, sort_keys=True)}", file=out)
        return 1 if stats.get("errors") else 0
    from eval.rundir import merge_runs as merge_eval

    merged = merge_eval(inputs, output)
    files = ", ".join(f"{name}: {ids} ids" for name, ids in merged["files"].items())
    print(f"merged {len(inputs)} {merged['kind']} runs into {output} ({files}); metrics recomputed in "
          f"{output / 'metrics.json'}", file=out)
    if merged["error_rows"]:
        print(f"{merged['error_rows']} rows are error rows", file=out)
    return 1 if merged["error_rows"] else 0


# ---- pretty trace ----------------------------------------------------------------------------------------------------


def print_round(entry: RoundTrace, out: TextIO, heading: bool = True) -> None:
    """One round of the trace: a line per step (critic and SymPy marks), the verdict, the refinement point."""
    if heading:
        origin = {"generated": "generated", "given": "given solution",
                  "refined": f"refined, kept steps 1-{entry.kept_steps}" if entry.kept_steps else "refined from step 1"}
        print(f"== round {entry.round} ({origin[entry.origin]}) ==", file=out)
    verdicts = {v.step1: v.verdict for v in entry.critique.verdicts}
    checks = {c.step1: c for c in entry.checks}
    for i, step in enumerate(entry.steps, 1):
        critic_mark = {"correct": "ok", "wrong": "WRONG"}.get(verdicts.get(i, ""), "-")
        check = checks.get(i)
        sympy_mark = {"ok": "ok", "wrong": "WRONG", "unchecked": "-"}[check.verdict] if check else "-"
        first_line = " ".join(step.split())
        print(f"  Step {i:<3} critic {critic_mark:<5} sympy {sympy_mark:<5} | {first_line[:100]}", file=out)
        for ev in check.evidence if check else []:
            if not ev.ok:
                print(f"             sympy: {ev.claim} but the left side is {ev.expected}", file=out)
    crit = entry.critique
    if crit.status != "ok":
        verdict = f"critique {crit.status} (no final answer read)"
    elif crit.first_wrong_step1 == -1:
        verdict = "critic: every step correct"
    else:
        verdict = f"critic: first wrong step {crit.first_wrong_step1}"
    combined = ""
    if entry.flagged_by is not None:
        combined = f"; first wrong step {entry.first_wrong_step1} (flagged by {entry.flagged_by})"
    print(f"  {verdict}{combined}", file=out)
    if entry.critic_note:
        print(f"  note: {entry.critic_note}", file=out)
    if entry.refine_from_step1 is not None:
        print(f"  -> refine from step {entry.refine_from_step1}", file=out)


# ---- inputs --------------------------------------------------------------------------------------------------------


def _read_text(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise CliError(f"no such file: {source}")
    return path.read_text(encoding="utf-8")


def _solution_input(args: argparse.Namespace) -> tuple[str, list[str]]:
    from critic.steps import split_steps

    text = _read_text(args.solution)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        problem = args.problem or data.get("problem")
        steps = data.get("steps") if data.get("steps") is not None else data.get("response")
        if isinstance(steps, str):
            steps = split_steps(steps)
        if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
            raise CliError("the JSON input needs 'steps' (a list of strings) or 'response' (text)")
    else:
        problem, steps = args.problem, split_steps(text)
    if not problem or not str(problem).strip():
        raise CliError("no problem given: put 'problem' in the JSON input or pass --problem")
    if not steps:
        raise CliError("the solution has no steps")
    return str(problem), steps

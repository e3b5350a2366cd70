"""``deepcritic``: the command-line front door.

``solve``, ``critique`` and ``refine`` run the critique-refine loop here; ``merge`` joins shard outputs; ``train``,
``eval`` and ``view`` hand the rest of the command line to training.cli / eval.cli, imported only when asked for (so
``import agent`` stays light). Exit codes (all commands, see critic.jobs): 0 done, 1 some error rows, 2 usage error,
3 engine or server failure (rerun to resume).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import TextIO

from agent.graph import RoundTrace
from critic.engines.base import EngineDead, EngineError, Sampling
from critic.io import OutputLocked
from critic.guided import CRITIC_FORMATS
from critic.jobs import EXIT_USAGE, engine_failure
from critic.records import SYMPY_MODES

PROG = "deepcritic"

DESCRIPTION = "Solve, critique and refine math solutions with a deliberate critic (after DeepCritic, arXiv 2505.00662)."

EXAMPLES = """\
examples:
  deepcritic solve "Tom has 3 apples and buys 5 more. How many apples does he have?"
  deepcritic solve --json --max-rounds 2 --max-tokens 256 "What is 12 * 13?"
  deepcritic critique solution.json                 # {"problem": ..., "steps": [...]} or {"response": ...}
  echo "Step 1: 2+2=5. Step 2: ..." | deepcritic critique - --problem "What is 2+2?"
  deepcritic refine outputs.jsonl -o refined.jsonl
  deepcritic refine processbench-gsm8k -o refined.jsonl --limit 20 --critic vllm:/models/deepcritic-7b \
      --critic-args tensor_parallel_size=2 --critic-args max_model_len=16384
  deepcritic refine outputs.jsonl -o part-3.jsonl --shard 3/8          # one task of an 8-way job array
  deepcritic merge -o refined.jsonl part-*.jsonl                       # join the shards, one row per id

engine specs (--generator / --critic):
  embedded                   the embedded SmolLM2-135M (default; runs anywhere, does not solve math)
  vllm:<folder or hub id>    in-process vLLM          hf:<folder or hub id>   transformers
  openai:<base_url>#<model>  any OpenAI-compatible server (e.g. vllm serve), model optional
engine options (--generator-args / --critic-args, JSON or repeated key=value): vLLM engine arguments
  (tensor_parallel_size, data_parallel_size, gpu_memory_utilization, max_model_len, enable_prefix_caching, ...) or
  OpenAI engine settings (max_concurrency, timeout_s, max_retries)

exit codes: 0 every row done, 1 some rows ended as error rows, 2 usage error (or the output is held by another run),
  3 engine or server failure (rows in flight are not written: rerun the same command to resume)
"""


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def _shared_flags() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("engines and loop")
    g.add_argument("--generator", metavar="SPEC", default="embedded", help="generator engine spec (default: embedded)")
    g.add_argument("--critic", metavar="SPEC", default=None, help="critic engine spec (default: same as --generator)")
    g.add_argument("--generator-args", action="append", metavar="OPTS",
                   help="generator engine options: JSON or key=value, repeatable (e.g. tensor_parallel_size=2)")
    g.add_argument("--critic-args", action="append", metavar="OPTS", help="critic engine options, as above")
    g.add_argument("--max-rounds", type=int, default=3, metavar="N",
                   help="critique rounds per problem, so at most N-1 refinements (default: 3; refine: 2)")
    g.add_argument("--max-tokens", type=int, default=512, metavar="N", help="token limit per generation (default: 512)")
    g.add_argument("--temperature", type=float, default=0.0, metavar="T",
                   help="sampling temperature (default: 0 = greedy)")
    g.add_argument("--sympy", choices=SYMPY_MODES, default="veto",
                   help="SymPy checks: off, veto (a definite contradiction flags the step) or prompt (shown to the "
                        "critic as notes) (default: veto)")
    g.add_argument("--critic-format", choices=CRITIC_FORMATS, default="free",
                   help="free, or guided: the engine holds the critique to the trained format (a block per step, "
                        "then the Answer; needs vllm: or an OpenAI server with structured outputs) (default: free)")
    g.add_argument("--prompt-template", metavar="FILE", default=None,
                   help="critic template: str.format text with {problem} and {tagged_response} (default: our wording)")
    g.add_argument("--system-prompt", metavar="TEXT|none", default=None,
                   help="critic system message; 'none' = none (default: ours, or none with a template)")
    g.add_argument("--step-tagging", choices=["startswith", "contains"], default="startswith",
                   help="'Step i: ' prefix unless a step starts with it (default) / contains 'Step ' (DeepCritic)")
    return p


def _critic_prompt(args: argparse.Namespace):
    from critic.prompts import CriticPrompt

    return CriticPrompt.from_settings("deliberate", args.prompt_template, args.system_prompt, args.step_tagging)


def build_parser() -> argparse.ArgumentParser:
    shared = _shared_flags()
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    solve = sub.add_parser("solve", parents=[shared], help="solve one problem: generate, check, critique, refine",
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog='example:\n  deepcritic solve --max-rounds 2 "What is 17 * 24?"')
    solve.add_argument("problem", help="the problem text ('-' reads it from stdin)")
    solve.add_argument("--json", action="store_true", help="print the full result as JSON instead of a trace")

    crit = sub.add_parser("critique", parents=[shared], help="critique one solution (file or stdin)",
                          formatter_class=argparse.RawDescriptionHelpFormatter,
                          epilog="input: a JSON object {\"problem\", \"steps\": [...]} or {\"problem\", \"response\"}, "
                                 "or plain solution text with --problem.\nexamples:\n"
                                 "  deepcritic critique solution.json\n"
                                 "  deepcritic critique - --problem \"What is 2+2?\" < answer.txt")
    crit.add_argument("solution", nargs="?", default="-", help="solution file ('-' or omitted: stdin)")
    crit.add_argument("--problem", help="the problem text, when the input is plain solution text")
    crit.add_argument("--json", action="store_true", help="print the critique round as JSON")

    ref = sub.add_parser("refine", parents=[shared], help="critique and refine a file of solutions (resumable)",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="input rows: {\"id\", \"problem\", \"steps\": [...] or \"response\": \"...\", "
                                "\"answer\": optional gold}\nIN: a JSONL/JSON file, a datasets folder or a dataset "
                                "name (e.g. processbench-gsm8k).\nA rerun resumes: ids already in OUT are skipped "
                                "(error rows too, unless --retry-errors).\nexamples:\n"
                                "  deepcritic refine outputs.jsonl -o refined.jsonl\n"
                                "  deepcritic refine outputs.jsonl -o part-1.jsonl --shard 1/4\n"
                                "exit codes: 0 done, 1 some error rows, 2 usage, 3 engine/server failure (rerun)")
    ref.add_argument("input", metavar="IN", help="input rows")
    ref.add_argument("-o", "--output", required=True, metavar="OUT", help="output JSONL (appended to, resumed by id)")
    ref.add_argument("--concurrency", type=int, default=None, metavar="N",
                     help="loops in flight at once (default: sized for the engines, e.g. vLLM's max_num_seqs + 25%%)")
    ref.add_argument("--overwrite", action="store_true", help="start OUT over instead of resuming")
    ref.add_argument("--retry-errors", action="store_true", help="also rerun ids whose row in OUT is an error row")
    ref.add_argument("--shard", metavar="I/N", help="only the ids of shard I of N (stable hash of the id)")
    ref.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N input rows")
    ref.add_argument("--no-progress", action="store_true", help="no progress bar")
    ref.set_defaults(max_rounds=2)

    mrg = sub.add_parser("merge", help="join shard outputs (JSONL files or run folders), one row per id",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="Rows are joined with the resume rule: per id the last row that is not an error row "
                                "wins, else the last error row.\nRun folders (eval, train mc-label / seed) are joined "
                                "file by file and their metrics or datasets rebuilt for the whole.\nexamples:\n"
                                "  deepcritic merge -o refined.jsonl part-1.jsonl part-2.jsonl\n"
                                "  deepcritic merge -o runs/pb runs/pb-shard1 runs/pb-shard2")
    mrg.add_argument("inputs", nargs="+", metavar="IN", help="shard outputs: all JSONL files or all run folders")
    mrg.add_argument("-o", "--output", required=True, metavar="OUT", help="merged file or folder (replaced)")

    # Listed for --help only: main() hands these command lines over before argparse sees them.
    for name, what in (("train", "training: seed, sft, mc-label, rl (deepcritic train --help)"),
                       ("eval", "evaluation: error-id, refine, tts, report (deepcritic eval --help)"),
                       ("view", "browse a run's predictions (deepcritic view --help)")):
        sub.add_parser(name, help=what, add_help=False)
    return parser


# ---- commands ------------------------------------------------------------------------------------------------------


def _sampling(args: argparse.Namespace) -> Sampling:
    if args.max_tokens < 1:
        raise CliError("--max-tokens must be >= 1")
    if args.temperature < 0:
        raise CliError("--temperature must be >= 0")
    if args.max_rounds < 1:
        raise CliError("--max-rounds must be >= 1")
    return Sampling(max_tokens=args.max_tokens, temperature=args.temperature)


def _read_text(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise CliError(f"no such file: {source}")
    return path.read_text(encoding="utf-8")


def _engine_args(args: argparse.Namespace, generator: str | None, critic: str | None) -> dict:
    """Checked engine options per role (one engine per spec: roles on the same spec share them)."""
    from critic.engines.options import engine_args_for

    specs = {role: spec for role, spec in (("generator", generator), ("critic", critic)) if spec is not None}
    flags = {role: getattr(args, f"{role}_args", None) for role in specs}
    if not any(flags.values()):
        return {}
    return engine_args_for(specs, None, flags)


def _engines(args: argparse.Namespace, generator: str | None, critic: str | None) -> dict:
    """Engines per role for the one-shot commands (built now)."""
    from agent.solve import resolve_engine

    options = _engine_args(args, generator, critic)
    specs = {"generator": generator, "critic": critic}
    return {role: resolve_engine(spec, **options.get(role, {})) for role, spec in specs.items() if spec is not None}


def _cmd_solve(args: argparse.Namespace, out: TextIO) -> int:
    from agent.solve import solve_with_critic

    problem = _read_text("-").strip() if args.problem == "-" else args.problem.strip()
    if not problem:
        raise CliError("the problem is empty")
    sampling, critic_prompt = _sampling(args), _critic_prompt(args)  # usage errors before any engine starts
    engines = _engines(args, args.generator, args.critic or args.generator)
    result = solve_with_critic(problem, generator=engines["generator"], critic=engines["critic"],
                               max_rounds=args.max_rounds, sympy=args.sympy, sampling=sampling,
                               critic_prompt=critic_prompt, critic_format=args.critic_format)
    if args.json:
        print(result.model_dump_json(indent=2), file=out)
        return 0
    for entry in result.trace:
        _print_round(entry, out)
    print(f"answer: {result.answer if result.answer is not None else '(none stated)'}", file=out)
    status = "accepted by the critic" if result.accepted else "not accepted"
    print(f"{status}; stopped: {result.stop_reason}; rounds: {result.rounds}; tokens: {result.tokens} "
          f"(generator {result.generator_tokens}, critic {result.critic_tokens})", file=out)
    return 0


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


def _cmd_critique(args: argparse.Namespace, out: TextIO) -> int:
    from agent.solve import critique_solution

    problem, steps = _solution_input(args)
    sampling, critic_prompt = _sampling(args), _critic_prompt(args)
    critic = _engines(args, None, args.critic or args.generator)["critic"]
    entry = critique_solution(problem, steps, critic=critic, sympy=args.sympy, sampling=sampling,
                              critic_prompt=critic_prompt, critic_format=args.critic_format)
    if args.json:
        print(entry.model_dump_json(indent=2), file=out)
    else:
        _print_round(entry, out, heading=False)
    return 0


def _cmd_refine(args: argparse.Namespace, out: TextIO) -> int:
    from agent.batch import refine_batch

    from critic.io import Shard

    if args.concurrency is not None and args.concurrency < 1:
        raise CliError("--concurrency must be >= 1")
    Shard.parse(args.shard)  # a bad --shard is a usage error before anything starts
    source = Path(args.input)
    if not source.exists() and (source.suffix in {".jsonl", ".json"} or "/" in args.input):
        raise CliError(f"no such file: {args.input}")
    critic = args.critic or args.generator
    summary = refine_batch(args.input, args.output, generator=args.generator, critic=critic,
                           concurrency=args.concurrency, max_rounds=args.max_rounds, sympy=args.sympy,
                           sampling=_sampling(args), overwrite=args.overwrite, limit=args.limit,
                           progress=not args.no_progress, critic_prompt=_critic_prompt(args),
                           critic_format=args.critic_format, retry_errors=args.retry_errors, shard=args.shard,
                           engine_args=_engine_args(args, args.generator, critic))
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


def _cmd_merge(args: argparse.Namespace, out: TextIO) -> int:
    """JSONL files: one row per id (critic.io.merge_jsonl). Run folders: eval runs (eval.rundir.merge_runs, metrics
    recomputed) or training stage folders (training.pipeline.merge_runs, labels / dataset rebuilt)."""
    from critic.io import hold, merge_jsonl

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


def _print_round(entry: RoundTrace, out: TextIO, heading: bool = True) -> None:
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


# ---- dispatch --------------------------------------------------------------------------------------------------------

# Subcommands owned by other packages: (module, function). Imported only when used.
DELEGATED = {"train": ("training.cli", "main"), "eval": ("eval.cli", "main"), "view": ("eval.cli", "view_main")}
COMMANDS = {"solve": _cmd_solve, "critique": _cmd_critique, "refine": _cmd_refine, "merge": _cmd_merge}


def _delegate(command: str, rest: list[str]) -> int:
    module_name, function_name = DELEGATED[command]
    try:
        module = importlib.import_module(module_name)
        function = getattr(module, function_name)
    except (ImportError, AttributeError) as e:
        raise CliError(f"'{command}' is not available: {module_name}.{function_name} cannot be loaded ({e})") from e
    return int(function(rest) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in DELEGATED:
            return _delegate(argv[0], argv[1:])
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # argparse already printed the usage error (or the help)
            return int(e.code or 0)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return COMMANDS[args.command](args, sys.stdout)
    except EngineDead as e:
        return engine_failure(PROG, e)
    except (CliError, EngineError, OutputLocked, FileNotFoundError, ValueError) as e:
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _one_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e).strip() else type(e).__name__


if __name__ == "__main__":
    sys.exit(main())

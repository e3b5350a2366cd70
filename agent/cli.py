"""``deepcritic``: the command-line front door.

``solve``, ``critique`` and ``refine`` run the critique-refine loop here; ``train``, ``eval`` and ``view`` hand the rest
of the command line to training.cli / eval.cli, imported only when asked for (so ``import agent`` stays light).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import TextIO

from agent.graph import SYMPY_MODES, RoundTrace
from critic.engines.base import EngineError, Sampling
from critic.guided import CRITIC_FORMATS

PROG = "deepcritic"
EXIT_USAGE = 2

DESCRIPTION = "Solve, critique and refine math solutions with a deliberate critic (after DeepCritic, arXiv 2505.00662)."

EXAMPLES = """\
examples:
  deepcritic solve "Tom has 3 apples and buys 5 more. How many apples does he have?"
  deepcritic solve --json --max-rounds 2 --max-tokens 256 "What is 12 * 13?"
  deepcritic critique solution.json                 # {"problem": ..., "steps": [...]} or {"response": ...}
  echo "Step 1: 2+2=5. Step 2: ..." | deepcritic critique - --problem "What is 2+2?"
  deepcritic refine outputs.jsonl -o refined.jsonl --concurrency 16
  deepcritic refine processbench-gsm8k -o refined.jsonl --limit 20 --critic vllm:/models/deepcritic-7b

engine specs (--generator / --critic):
  embedded                   the embedded SmolLM2-135M (default; runs anywhere, does not solve math)
  vllm:<folder or hub id>    in-process vLLM          hf:<folder or hub id>   transformers
  openai:<base_url>#<model>  any OpenAI-compatible server (e.g. vllm serve), model optional
"""


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def _shared_flags() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("engines and loop")
    g.add_argument("--generator", metavar="SPEC", default="embedded", help="generator engine spec (default: embedded)")
    g.add_argument("--critic", metavar="SPEC", default=None, help="critic engine spec (default: same as --generator)")
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
                                "name (e.g. processbench-gsm8k).\nA rerun resumes: ids already in OUT are skipped.\n"
                                "example:\n  deepcritic refine outputs.jsonl -o refined.jsonl --concurrency 16")
    ref.add_argument("input", metavar="IN", help="input rows")
    ref.add_argument("-o", "--output", required=True, metavar="OUT", help="output JSONL (appended to, resumed by id)")
    ref.add_argument("--concurrency", type=int, default=16, metavar="N", help="loops in flight at once (default: 16)")
    ref.add_argument("--overwrite", action="store_true", help="start OUT over instead of resuming")
    ref.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N input rows")
    ref.add_argument("--no-progress", action="store_true", help="no progress bar")
    ref.set_defaults(max_rounds=2)

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


def _cmd_solve(args: argparse.Namespace, out: TextIO) -> int:
    from agent.solve import solve_with_critic

    problem = _read_text("-").strip() if args.problem == "-" else args.problem.strip()
    if not problem:
        raise CliError("the problem is empty")
    result = solve_with_critic(problem, generator=args.generator, critic=args.critic or args.generator,
                               max_rounds=args.max_rounds, sympy=args.sympy, sampling=_sampling(args),
                               critic_prompt=_critic_prompt(args), critic_format=args.critic_format)
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
    entry = critique_solution(problem, steps, critic=args.critic or args.generator, sympy=args.sympy,
                              sampling=_sampling(args), critic_prompt=_critic_prompt(args),
                              critic_format=args.critic_format)
    if args.json:
        print(entry.model_dump_json(indent=2), file=out)
    else:
        _print_round(entry, out, heading=False)
    return 0


def _cmd_refine(args: argparse.Namespace, out: TextIO) -> int:
    from agent.batch import refine_batch

    if args.concurrency < 1:
        raise CliError("--concurrency must be >= 1")
    source = Path(args.input)
    if not source.exists() and (source.suffix in {".jsonl", ".json"} or "/" in args.input):
        raise CliError(f"no such file: {args.input}")
    summary = refine_batch(args.input, args.output, generator=args.generator, critic=args.critic or args.generator,
                           concurrency=args.concurrency, max_rounds=args.max_rounds, sympy=args.sympy,
                           sampling=_sampling(args), overwrite=args.overwrite, limit=args.limit,
                           progress=not args.no_progress, critic_prompt=_critic_prompt(args),
                           critic_format=args.critic_format)
    gold = ""
    if summary.correct_before is not None:
        gold = f"; correct before {summary.correct_before}, after {summary.correct_after}"
    print(f"wrote {summary.done} rows to {summary.out_path} ({summary.skipped} already done, {summary.errors} errors, "
          f"{summary.accepted} accepted{gold}) in {summary.seconds:.1f}s: {summary.rows_per_s:.2f} rows/s, "
          f"{summary.tokens_per_s:.0f} tok/s", file=out)
    return 0


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
COMMANDS = {"solve": _cmd_solve, "critique": _cmd_critique, "refine": _cmd_refine}


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
    except (CliError, EngineError, FileNotFoundError, ValueError) as e:
        print(f"{PROG}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``deepcritic``: the command-line front door, one registry of every command.

Each command lives in a module that offers ``make_parser(subparsers)`` (or a named variant) adding the command's
parser, whose flags come from the command's config, and setting ``run(args) -> exit code``; :data:`REGISTRY` maps
the command name to that module, imported only when the command is used (so ``import agent`` stays free of torch,
vLLM and trl). ``train sft`` / ``train rl`` keep trl's parser (training.cli hands them over). Global flags:
``--debug`` (full traceback instead of the one-line error) and ``--verbose`` (library logs and warnings).
Exit codes (all commands, see critic.jobs): 0 done, 1 some error rows, 2 usage error, 3 engine or server failure
(rerun to resume).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass

from critic.commandline import UsageError, cli_main, global_flags_epilog, run_guarded, split_global_flags

PROG = "deepcritic"

DESCRIPTION = "Solve, critique and refine math solutions with a deliberate critic (after DeepCritic, arXiv 2505.00662)."

EXAMPLES = """\
examples:
  deepcritic solve "Tom has 3 apples and buys 5 more. How many apples does he have?"
  deepcritic solve --json --max-rounds 2 --max-tokens 256 "What is 12 * 13?"
  deepcritic critique solution.json                 # {"problem": ..., "steps": [...]} or {"response": ...}
  printf 'Step 1: 2+2=5.\\nStep 2: So the answer is 5.\\n' | deepcritic critique - --problem "What is 2+2?"
  deepcritic refine outputs.jsonl -o refined.jsonl
  deepcritic refine processbench-gsm8k -o refined.jsonl --limit 20 --critic vllm:/models/deepcritic-7b \\
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




CliError = UsageError  # a user error: printed as one line, exit code 2


@dataclass(frozen=True)
class Command:
    """One registry entry: ``module.<parser>(subparsers)`` adds the command's parser; a module without it (or a
    command line it hands over) is run as ``module.<main>(argv)`` with the rest of the command line."""

    module: str
    help: str
    parser: str = "make_parser"
    main: str = "main"


REGISTRY: dict[str, Command] = {
    "solve": Command("agent.commands", "solve one problem: generate, check, critique, refine", "make_solve_parser"),
    "critique": Command("agent.commands", "critique one solution (file or stdin)", "make_critique_parser"),
    "refine": Command("agent.commands", "critique and refine a file of solutions (resumable)", "make_refine_parser"),
    "merge": Command("agent.commands", "join shard outputs (JSONL files or run folders), one row per id",
                     "make_merge_parser"),
    "train": Command("training.cli", "training: seed, sft, mc-label, rl (deepcritic train --help)"),
    "eval": Command("eval.cli", "evaluation: error-id, refine, tts, report (deepcritic eval --help)"),
    "view": Command("eval.cli", "browse a run's predictions (deepcritic view --help)", "make_view_parser",
                    "view_main"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: global flags and the command list (no command module imported)."""
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EXAMPLES + "\n" + global_flags_epilog(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, command in REGISTRY.items():
        sub.add_parser(name, help=command.help, add_help=False)
    return parser


def _load(name: str):
    command = REGISTRY[name]
    try:
        return importlib.import_module(command.module)
    except ImportError as e:
        raise CliError(f"'{name}' is not available: {command.module} cannot be loaded ({e})") from e


def _command_parser(name: str, module) -> argparse.ArgumentParser | None:
    """A parser holding only command ``name`` (its module's parser function), or None when it has none."""
    make = getattr(module, REGISTRY[name].parser, None)
    if make is None:
        return None
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    make(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return parser


def _raising(error: Exception):
    """A run function that raises ``error`` (reported under the error policy, with --debug's traceback)."""

    def run() -> int:
        raise error

    return run


def main(argv: list[str] | None = None) -> int:
    """``deepcritic COMMAND ...``; returns the exit code (critic.jobs: 0, 1 error rows, 2 usage, 3 engine)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    rest, flags = split_global_flags(argv)
    name = rest[0] if rest else None
    if name not in REGISTRY:
        return cli_main(build_parser(), argv)  # the help, or argparse's "invalid choice" usage error
    try:
        module = _load(name)
    except CliError as e:
        return run_guarded(PROG, _raising(e), flags)
    handover = getattr(module, "handover", None)
    parser = None if handover is not None and handover(rest[1:]) else _command_parser(name, module)
    if parser is None:  # the module parses its own command line (train sft / rl: trl's parser)
        function = getattr(module, REGISTRY[name].main, None)
        if function is None:
            missing = CliError(f"'{name}' is not available: {REGISTRY[name].module} has no {REGISTRY[name].main}")
            return run_guarded(PROG, _raising(missing), flags)
        global_argv = [flag for flag, on in (("--debug", flags.debug), ("--verbose", flags.verbose)) if on]
        return int(function(global_argv + rest[1:]) or 0)
    return cli_main(parser, argv)


if __name__ == "__main__":
    sys.exit(main())

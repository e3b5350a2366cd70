"""One entry point for every benchmark: ``python -m eval.bench [NAME ...]``.

Runs ``main()`` of each ``eval/bench/<name>.py`` (all of them, or the names given) with default arguments and prints
their tables one after another. A benchmark that is missing or cannot be imported is skipped with a note; one that
fails is reported and the rest still run (exit code 1 when any failed).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path

# The benchmarks the issues ask for, in print order; any other module in this folder runs after them.
EXPECTED = ("sympy_tool", "engines", "agent", "training", "grading", "longjobs")


def discover() -> list[str]:
    """Benchmark module names of this package: the expected ones first (in their order), then any others, sorted."""
    found = [m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_")]
    return [*EXPECTED, *sorted(n for n in found if n not in EXPECTED)]


def run_one(name: str) -> str:
    """``ok``, ``skipped`` or ``failed``."""
    banner = f"=== eval.bench.{name} "
    print(f"\n{banner}{'=' * max(3, 100 - len(banner))}", flush=True)
    try:
        module = importlib.import_module(f"eval.bench.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"eval.bench.{name}":
            print(f"(skipped: eval/bench/{name}.py does not exist)")
        else:
            print(f"(skipped: eval/bench/{name}.py needs {e.name!r}, which is not installed)")
        return "skipped"
    main = getattr(module, "main", None)
    if not callable(main):
        print(f"(skipped: eval/bench/{name}.py has no main())")
        return "skipped"
    argv = sys.argv
    sys.argv = [f"eval.bench.{name}"]  # each benchmark parses its own (empty) command line: its defaults
    start = time.perf_counter()
    try:
        main()
    except SystemExit as e:  # a benchmark's argparse or explicit exit
        if e.code not in (None, 0):
            print(f"(failed: exited with {e.code})")
            return "failed"
    except Exception:  # one broken benchmark must not hide the others' tables
        traceback.print_exc(file=sys.stdout)
        print(f"(failed after {time.perf_counter() - start:.1f}s)")
        return "failed"
    finally:
        sys.argv = argv
        sys.stdout.flush()
    print(f"({name}: {time.perf_counter() - start:.1f}s)")
    return "ok"


def main(argv: list[str] | None = None) -> int:
    """``python -m eval.bench [NAME ...]``: run the named benchmarks (default: all), print each one's output and a
    summary; returns 1 when any failed, else 0."""
    parser = argparse.ArgumentParser(prog="python -m eval.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all; known: {', '.join(discover())})")
    args = parser.parse_args(argv)
    names = args.names or discover()
    results = {name: run_one(name) for name in names}
    print("\n=== summary " + "=" * 88)
    for name, status in results.items():
        print(f"{name:<14} {status}")
    return 1 if "failed" in results.values() else 0


if __name__ == "__main__":
    sys.exit(main())

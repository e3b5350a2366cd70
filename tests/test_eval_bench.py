"""`python -m eval.bench`: runs every benchmark's main(), skips missing ones with a note, survives a failing one."""

from __future__ import annotations

import importlib
import sys
import types

bench_main = importlib.import_module("eval.bench.__main__")


def fake_bench(monkeypatch, name, main):
    module = types.ModuleType(f"eval.bench.{name}")
    module.main = main
    monkeypatch.setitem(sys.modules, f"eval.bench.{name}", module)


def test_runs_prints_and_summarises(monkeypatch, capsys):
    seen_argv = []

    def table():
        seen_argv.append(list(sys.argv))
        print("| thing | ratio |\n|---|---|\n| a | 1.00 |")

    def broken():
        raise RuntimeError("boom")

    fake_bench(monkeypatch, "zz_table", table)
    fake_bench(monkeypatch, "zz_broken", broken)
    code = bench_main.main(["zz_table", "zz_broken", "zz_missing"])
    out = capsys.readouterr().out
    assert code == 1  # one failed
    assert "| a | 1.00 |" in out and "RuntimeError: boom" in out
    assert "(skipped: eval/bench/zz_missing.py does not exist)" in out
    assert "zz_table       ok" in out and "zz_broken      failed" in out and "zz_missing     skipped" in out
    assert seen_argv == [["eval.bench.zz_table"]]  # each benchmark parses an empty command line


def test_discovers_the_expected_benchmarks_first():
    names = bench_main.discover()
    assert names[:4] == ["sympy_tool", "engines", "agent", "training"]
    assert "__main__" not in names and "__init__" not in names

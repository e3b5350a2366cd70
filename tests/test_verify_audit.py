"""Nothing a step says is compiled or executed: the fuzz corpus and the claim lists run through the checker in a
fresh interpreter with an audit hook (``sys.addaudithook``) that records every ``compile`` of source text and
every ``exec`` of a code object that did not come from a module file.

The hook is installed after every module is imported (imports compile ``.py`` files and execute module code:
those events name a real file and are expected); it stays installed for that process only. One other source of
compile/exec is allowed, by its exact caller: SymPy's polynomial code generator (``MonomialOps._build`` in
``sympy/polys/monomials.py``), which compiles ``def monomial_mul(A, B): ...`` from its own template and the number
of variables - no text of ours reaches it. Those events are counted and must look like that template."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

PROBE = textwrap.dedent(r"""
    import json, re, sys, tempfile
    from pathlib import Path
    sys.path.insert(0, TESTS)
    import test_sympy_fuzz as fuzz
    import test_verify as claims
    import test_sympy_tool as plain
    from critic.verify.checks import check_step

    corpus = fuzz._all_inputs(Path(tempfile.gettempdir()) / "never-created")
    corpus += claims.EXACT_OK + [t for t, _ in claims.EXACT_WRONG] + claims.AMBIGUOUS + claims.IDENTITY_OK
    corpus += [t for t, _ in claims.IDENTITY_WRONG] + claims.IDENTITY_UNKNOWN + [t for t, _ in claims.REARRANGED_WRONG]
    corpus += claims.REARRANGED_NOT_WRONG + claims.GUARDED_WRONG + claims.GUARDED_UNKNOWN
    corpus += plain.CORRECT + [t for t, _ in plain.WRONG] + plain.AMBIGUOUS

    events = []
    codegen = []

    def from_a_file(name):
        return isinstance(name, str) and (name.endswith((".py", ".pyc")) or name.startswith("<frozen "))

    def sympy_codegen(source=None):
        caller = sys._getframe(2).f_code
        template = source is None or (isinstance(source, (bytes, str)) and re.match(
            r"def monomial_[a-z]+\(", source.decode() if isinstance(source, bytes) else source))
        return caller.co_name == "_build" and caller.co_filename.endswith("sympy/polys/monomials.py") and template

    def hook(event, args):
        if event == "compile":
            source, filename = args[0], args[1]
            if not from_a_file(filename):
                if sympy_codegen(source):
                    codegen.append(event)
                else:
                    events.append([event, repr(source)[:120], repr(filename)])
        elif event == "exec":
            code = args[0]
            filename = getattr(code, "co_filename", None)
            if not from_a_file(filename):
                if sympy_codegen():
                    codegen.append(event)
                else:
                    events.append([event, repr(code)[:120], repr(filename)])

    sys.addaudithook(hook)
    verdicts = [check_step(text, 1).verdict for text in corpus]
    sys.stdout.write(json.dumps({"events": events, "codegen": len(codegen), "n": len(corpus),
                                 "wrong": verdicts.count("wrong")}))
""")


def test_no_text_is_compiled_or_executed_while_checking() -> None:
    out = subprocess.run([sys.executable, "-c", f"TESTS = {str(TESTS)!r}\n" + PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["n"] > 3000 and report["wrong"] > 20  # the corpus really ran, SymPy checks included
    assert report["events"] == []


def test_the_hook_would_see_an_eval() -> None:
    """The probe's filter is not blind: ``eval`` of a string is recorded."""
    probe = PROBE.replace("verdicts = [check_step(text, 1).verdict for text in corpus]",
                          "verdicts = [check_step(text, 1).verdict for text in corpus[:5]]; eval('1 + 1')")
    out = subprocess.run([sys.executable, "-c", f"TESTS = {str(TESTS)!r}\n" + probe], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    events = json.loads(out.stdout)["events"]
    assert [e[0] for e in events] == ["compile", "exec"]

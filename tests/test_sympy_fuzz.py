"""Fuzzing the SymPy tool and the grader: nothing a step says is ever executed, every call returns within its bound,
the calling process survives - from the main thread, from worker threads and from an asyncio loop."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from critic.grading import answers_match, extract_answer
from critic.records import StepCheck
from critic.verify import check_step, check_steps

STEP_BOUND_S = 2.0  # the contract: a pathological step costs at most about this much
GRADE_TIMEOUT_S = 1.0
GRADE_BOUND_S = 8.0  # timeout + killing the worker + a replacement starting on a loaded 2-core machine


def _payloads(sentinel: Path) -> list[str]:
    s = str(sentinel)
    return [
        f"__import__('os').system('touch {s}')",
        f"__import__(\"os\").system(\"touch {s}\")",
        f"os.system('touch {s}')",
        f"(lambda: __import__('os').system('touch {s}'))()",
        f"lambda x: open('{s}', 'w')",
        f"open('{s}', 'w').write('x')",
        f"exec(\"open('{s}','w')\")",
        f"eval(\"__import__('os').system('touch {s}')\")",
        f"compile('open(\"{s}\",\"w\")', 'f', 'exec')",
        f"__import__('subprocess').call(['touch', '{s}'])",
        f"().__class__.__bases__[0].__subclasses__()[0]('touch {s}')",
        f"[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0]('touch {s}', shell=True)",
        f"getattr(__builtins__, '__import__')('os').system('touch {s}')",
        f"__builtins__.__dict__['__import__']('os').system('touch {s}')",
        f"globals()['__builtins__'].open('{s}', 'w')",
        f"Symbol('x').__class__.__init__.__globals__['os'].system('touch {s}')",
        f"import os; os.system('touch {s}')",
        f"1 if __import__('os').system('touch {s}') else 2",
        "x.__class__.__mro__[-1].__subclasses__()",
        f"\\input{{{s}}}",
        f"\\write18{{touch {s}}}",
        f"\\immediate\\write18{{touch {s}}}",
    ]


def _wrappings(payload: str) -> list[str]:
    return [
        payload,
        f"${payload}$",
        f"\\({payload}\\)",
        f"\\[ {payload} \\]",
        f"\\frac{{{payload}}}{{2}} = 1",
        f"\\sqrt{{{payload}}} = 3",
        f"\\boxed{{{payload}}}",
        f"1 + {payload} = 2",
        f"{payload} = 3",
        f"2 * ({payload}) = 4",
        f"<<{payload}=3>>3",
        f"\\text{{{payload}}} = 5",
        f"x = {payload}",
        f"6x = {payload}, so x = 30",
        f"#### {payload}",
        f"The answer is {payload}.",
        f"20% of {payload} = 10",
        f"2^{{{payload}}} = 4",
    ]


HUGE = [
    "9**9**9 = 1",
    "9^9^9 = 1",
    "9^{9^{9}} = 1",
    "9^{9^{9^{9}}}",
    "10^{10^{10}} = 10",
    "2^{999999} = 2",
    "(10^{1000})! = 1",
    "99999999999! = 1",
    "10^{-99999} = 0",
    "0^{-1} = 1",
    "1/0 = 1",
    "\\binom{10^{9}}{5} = 1",
    "\\sqrt[999999]{2} = 1",
    "(2^{4096})^{4096} = 1",
    "1.5^{4096} = 1",
    "1" * 1_000_000 + " = 1",
    "1" * 19_000 + " = 1",
    "0." + "3" * 10_000 + " = 1/3",
    "1e999999 = 1",
    "2" + "^2" * 5000 + " = 4",
    "9" * 60 + " * " + "9" * 60 + " = 1",
]


def _nested(n: int) -> list[str]:
    return [
        "(" * n + "1" + ")" * n + " = 1",
        "\\frac{" * n + "1" + "}{2}" * n + " = 1",
        "\\sqrt{" * n + "4" + "}" * n + " = 2",
        "{" * n + "1" + "}" * n + " = 1",
        "-" * n + "1 = 1",
        "2^{" * n + "2" + "}" * n + " = 4",
        "\\left(" * n + "1" + "\\right)" * n + " = 1",
        "(" * n + "1 = 1",
        "\\frac{" * n,
        "\\boxed{" * n + "1",
    ]


UNBALANCED = [
    "\\frac{1}{", "\\frac{1", "\\frac", "\\sqrt{", "\\sqrt[", "\\sqrt[3]{8", "\\left(", "\\right)", "\\text{", "$$$",
    "\\\\", "\\", "}{}{", "\\begin{align", "\\end{", "\\boxed{1", "\\boxed{", "((((1 = 1", "1 = 1))))", "= = = =",
    "=", "==", "\\frac{1}{2}}} = 0.5", "{{{\\frac12", "\\(\\[\\]\\)", "\\binom{5}{", "^^^^", "5!!!!!! = 1",
    "%%%% = 1", "1,000,00 = 1", "1{,}000{,} = 1", "\\$\\$\\$ = 1", "3 x x x 4 = 12", "<<<<1=1>>>>", "&&&= 1 \\\\ &=",
]

_FRAGMENTS = ["1", "2", "3.5", "1,000", "0.25", "+", "-", "*", "/", "^", "(", ")", "{", "}", "=", "=", " ", "x", "y",
              "\\frac", "\\sqrt", "\\times", "\\cdot", "\\div", "\\left(", "\\right)", "\\text{ apples}", "$", "\\$",
              "%", " of ", "!", "\\binom", "\\pi", "\\approx", "<<", ">>", "\n", "\\\\", "&", "__", ".", ",",
              "__import__", "os", "system", "lambda", "'", '"', "[", "]", "\\begin{align*}", "9**9", "e", "x x"]


def _random_strings(n: int, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(1, 60)
        out.append("".join(rng.choice(_FRAGMENTS) for _ in range(k)))
    return out


def _all_inputs(sentinel: Path) -> list[str]:
    inputs = [w for p in _payloads(sentinel) for w in _wrappings(p)]
    inputs += HUGE + UNBALANCED + _nested(10) + _nested(60) + _nested(1000) + _nested(100_000)
    inputs += _random_strings(3000)
    return inputs


def _check_bounded(text: str) -> StepCheck:
    t0 = time.monotonic()
    result = check_step(text, 2)
    elapsed = time.monotonic() - t0
    assert elapsed < STEP_BOUND_S, (elapsed, text[:200])
    assert isinstance(result, StepCheck) and result.step1 == 2
    assert result.verdict in ("ok", "wrong", "unchecked")
    return result


@pytest.fixture
def sentinel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # relative paths in payloads land here too
    return tmp_path / "SENTINEL"


def test_generated_inputs_never_execute_and_stay_bounded(sentinel: Path) -> None:
    inputs = _all_inputs(sentinel)
    assert len(inputs) > 3000
    t0 = time.monotonic()
    verdicts = [_check_bounded(text).verdict for text in inputs]
    print(f"{len(inputs)} inputs in {time.monotonic() - t0:.2f} s; verdicts:",
          {v: verdicts.count(v) for v in set(verdicts)})
    for text in inputs:
        extract_answer(text)
    assert not sentinel.exists()
    assert not (Path.cwd() / "SENTINEL").exists()


def test_payloads_through_the_grader_never_execute(sentinel: Path) -> None:
    payloads = [w for p in _payloads(sentinel) for w in _wrappings(p)[:8]]
    payloads += [h for h in HUGE if len(h) < 2000] + UNBALANCED[:15] + [t for t in _nested(60)]
    for text in payloads:
        t0 = time.monotonic()
        assert answers_match(text, "3", timeout_s=GRADE_TIMEOUT_S) in (True, False)
        assert answers_match("3", text, timeout_s=GRADE_TIMEOUT_S) in (True, False)
        assert time.monotonic() - t0 < 2 * GRADE_BOUND_S, text[:200]
    assert not sentinel.exists()
    assert not (Path.cwd() / "SENTINEL").exists()
    assert answers_match("x+1", "1+x")  # the worker pool still answers


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_hypothesis_any_text(text: str) -> None:
    _check_bounded(text)


_MATHY = st.text(alphabet="0123456789+-*/^()=.,%{}\\ x$!&<>[]|_'", max_size=200)
_LATEX = st.lists(st.sampled_from(_FRAGMENTS), max_size=80).map("".join)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_MATHY, _LATEX))
def test_hypothesis_math_like_text(text: str) -> None:
    _check_bounded(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=-10**12, max_value=10**12), st.integers(min_value=-10**6, max_value=10**6),
       st.sampled_from(["+", "-", "*"]))
def test_hypothesis_true_arithmetic_is_never_wrong(a: int, b: int, op: str) -> None:
    value = a + b if op == "+" else a - b if op == "-" else a * b
    text = f"We get ${a} {op} ({b}) = {value}$."
    assert check_step(text).verdict == "ok", text
    assert check_step(f"We get ${a} {op} ({b}) = {value + 1}$.").verdict == "wrong"


def test_from_worker_threads(sentinel: Path) -> None:
    inputs = _all_inputs(sentinel)[:2500]
    errors: list[BaseException] = []

    def work(chunk: list[str]) -> None:
        try:
            for text in chunk:
                _check_bounded(text)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(inputs[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[:3]
    with ThreadPoolExecutor(3) as pool:
        grades = list(pool.map(lambda s: answers_match(s, "3", timeout_s=GRADE_TIMEOUT_S),
                               [inputs[0], "9^{9^{9^{9}}}", "3", "(" * 300 + "x" + ")^{99999}" * 300]))
    assert grades[2] is True
    assert not sentinel.exists()


def test_from_an_asyncio_loop(sentinel: Path) -> None:
    inputs = _all_inputs(sentinel)[::7]

    async def main() -> None:
        for text in inputs:  # directly on the loop: bounded, no signals involved
            _check_bounded(text)
        checks = await asyncio.gather(*(asyncio.to_thread(check_steps, "p", [t, t]) for t in inputs[:200]))
        assert all(len(c) == 2 for c in checks)
        t0 = time.monotonic()
        grades = await asyncio.gather(
            asyncio.to_thread(answers_match, "9^{9^{9^{9}}}", "1", GRADE_TIMEOUT_S),
            asyncio.to_thread(answers_match, r"\frac{1}{2}", "0.5", GRADE_TIMEOUT_S),
        )
        assert time.monotonic() - t0 < GRADE_BOUND_S
        assert grades[1] is True
        assert answers_match("x+x", "2x")  # and straight from the loop's thread

    asyncio.run(main())
    assert not sentinel.exists()

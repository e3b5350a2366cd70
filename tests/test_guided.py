"""The guided critique format (critic.guided): the regex admits exactly the trained format, every text it admits
parses to status ok with a verdict per judged step, every cut of such a text parses as truncated (never a wrong
reading), and the reasoning bound keeps the longest admitted critique within max_tokens.

Admitted texts are drawn at random from the regex itself (a walker over Python's parse of the pattern), so the
checks do not share the builder's own idea of the format.
"""

from __future__ import annotations

import random
import re
from re import _constants as C
from re import _parser

import pytest

from critic.guided import (
    CRITIC_FORMATS,
    critique_regex,
    fixed_chars,
    guided_format,
    reasoning_budget,
)
from critic.parse import parse_critique
from critic.prompts import format_critique
from critic.records import StepVerdict

# ---- a random walker over a regex ----------------------------------------------------------------------------------


def _class_chars(items) -> list[str]:
    chars: set[str] = set()
    for op, av in items:
        if op is C.LITERAL:
            chars.add(chr(av))
        elif op is C.RANGE:
            chars.update(chr(c) for c in range(av[0], av[1] + 1))
        else:
            raise AssertionError(f"unexpected class item {op}")
    return sorted(chars)


def _walk(tree, rng: random.Random, out: list[str], choose, fill: float) -> None:
    for op, av in tree:
        if op is C.LITERAL:
            out.append(chr(av))
        elif op is C.IN:
            out.append(rng.choice(_class_chars(av)))
        elif op is C.BRANCH:
            _walk(av[1][choose(av[1])], rng, out, choose, fill)
        elif op is C.SUBPATTERN:
            _walk(av[3], rng, out, choose, fill)
        elif op is C.MAX_REPEAT:
            lo, hi, sub = av
            count = hi if rng.random() < fill else rng.randint(lo, hi)
            for _ in range(count):
                _walk(sub, rng, out, choose, fill)
        else:
            raise AssertionError(f"the guided regex left the common subset: {op}")


def sample(regex: str, rng: random.Random, p_continue: float = 0.5, fill: float = 0.2) -> str:
    """A random text the regex admits. Two-way branches take their second alternative (the next block, the longer
    reasoning form) with probability ``p_continue``; repetitions go to their maximum with probability ``fill``."""
    def choose(branches) -> int:
        return 1 if len(branches) == 2 and rng.random() < p_continue else rng.randrange(len(branches))

    out: list[str] = []
    _walk(_parser.parse(regex), rng, out, choose, fill)
    return "".join(out)


def longest(regex: str) -> str:
    """The longest text the regex admits: every repetition at its maximum, over every choice of branches (the
    critique regex has one two-way branch per judgement, so this tries each stopping point)."""
    def judgement_branch(branches) -> bool:  # "-1}..." | "1}...": the verdict of a block
        return len(branches) == 2 and branches[0][0] == (C.LITERAL, ord("-"))

    best = ""
    for stop in range(1, 200):
        seen = 0

        def choose(branches, stop=stop) -> int:
            nonlocal seen
            if not judgement_branch(branches):
                return 0
            seen += 1
            return 0 if seen == stop else 1

        out: list[str] = []
        _walk(_parser.parse(regex), random.Random(0), out, choose, fill=1.0)
        best = max(best, "".join(out), key=len)
        if seen < stop:  # the all-correct path: every judgement continued
            return best
    raise AssertionError("more than 199 steps")


def expected_verdicts(answer: int, n: int) -> list[tuple[int, str]]:
    judged = n if answer == -1 else answer
    return [(i, "wrong" if i == answer else "correct") for i in range(1, judged + 1)]


# ---- every admitted text reads right, whole or cut ----------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9, 10, 11, 17, 40])
def test_admitted_critiques_parse_ok_and_cuts_parse_truncated(n):
    rng = random.Random(n)
    for max_tokens in (64, 256, 512, 2048):
        g = guided_format(n, max_tokens)
        pattern = re.compile(g.regex)
        answers = set()
        for p_continue in (0.3, 0.8, 0.97, 1.0):
            for _ in range(6):
                text = sample(g.regex, rng, p_continue=p_continue)
                assert pattern.fullmatch(text), text
                assert len(text) <= g.max_chars
                crit = parse_critique(text, n)
                assert crit.status == "ok", text
                answers.add(crit.first_wrong_step1)
                got = [(v.step1, v.verdict) for v in crit.verdicts]
                assert got == expected_verdicts(crit.first_wrong_step1, n), text
                for cut in sorted({rng.randrange(len(text)) for _ in range(8)} | {len(text) - 1}):
                    part = parse_critique(text[:cut], n, finish_reason="length")
                    assert part.status == "truncated", text[:cut]
                    assert [(v.step1, v.verdict) for v in part.verdicts] == got[: len(part.verdicts)], text[:cut]
        assert -1 in answers or n > 9  # the all-correct path is reached (rarely at p_continue < 1 for long n)


def test_held_accepts_the_format_whole_or_cut_and_nothing_else():
    rng = random.Random(7)
    g = guided_format(4, 512)
    for _ in range(20):
        text = sample(g.regex, rng, p_continue=0.7)
        assert g.held(text, "stop")
        for cut in (0, 5, len("**Critique of Step 1**\n"), len(text) // 2, len(text) - 1):
            assert g.held(text[:cut], "length")
            assert cut == len(text) or not g.held(text[:cut], "stop")
    others = ("Step 1 is fine. ", "**Critique of step 1**\n", "\n**Critique of Step 1**\n", "**Answer**: \\boxed{-1}")
    for free in others:
        assert not g.held(free, "length") and not g.held(free, "stop")


@pytest.mark.parametrize("n", [1, 4, 12, 40])
@pytest.mark.parametrize("max_tokens", [32, 200, 512, 4096])
def test_longest_admitted_critique_fits_max_tokens(n, max_tokens):
    g = guided_format(n, max_tokens)
    text = longest(g.regex)
    assert re.fullmatch(g.regex, text)
    assert len(text) == g.max_chars  # the builder's count is the regex's longest text
    assert text.isascii()  # so at most one token per character (byte-level BPE)
    if g.fits:
        assert g.max_chars + 1 <= max_tokens
        # and the bound is the largest that fits
        assert fixed_chars(n) + n * (g.reasoning_chars + 1) + 1 > max_tokens
    else:
        assert g.reasoning_chars == 0 and fixed_chars(n) + 1 > max_tokens


def test_budget_examples():
    assert reasoning_budget(3, 512) > 100
    assert guided_format(9, 512).fits and not guided_format(10, 512).fits
    assert guided_format(4, 512).reasoning_chars == 71
    assert guided_format(38, 2048).fits and not guided_format(40, 2048).fits
    assert guided_format(40, 4096).reasoning_chars >= 45
    assert guided_format(3, 512, reasoning_chars=20).reasoning_chars == 20


def test_regex_size_is_linear_in_steps():
    sizes = {n: len(critique_regex(n, 3000)) for n in (10, 20, 40)}
    assert sizes[40] - sizes[20] <= 2 * (sizes[20] - sizes[10]) + 40
    assert sizes[40] < 300 * 40
    for n in range(1, 41):
        re.compile(critique_regex(n, 50))


# ---- the trained format matches; anything else does not -----------------------------------------------------------


def _critique(verdicts: list[str], texts: list[str] | None = None, answer: int | None = None) -> str:
    """A critique in the trained layout, rendered without checks (so it may break the format's rules); for
    well-formed input it equals :func:`critic.prompts.format_critique` (the SFT target renderer)."""
    texts = texts or [f"Redo {i}: 2 + 2 = 4 holds." for i in range(1, len(verdicts) + 1)]
    first = next((i for i, v in enumerate(verdicts, 1) if v == "wrong"), -1)
    blocks = [f"**Critique of Step {i}**\n{t}\n\n**Judgement**: \\boxed{{{1 if v == 'correct' else -1}}}"
              for i, (v, t) in enumerate(zip(verdicts, texts), 1)]
    return "\n\n".join(blocks + [f"**Answer**: \\boxed{{{first if answer is None else answer}}}"])


def test_the_test_renderer_is_the_trained_format():
    for verdicts in (["wrong"], ["correct", "correct"], ["correct", "wrong"]):
        steps = [StepVerdict(step1=i, verdict=v, text=f"Redo {i}: 2 + 2 = 4 holds.") for i, v in enumerate(verdicts, 1)]
        first = verdicts.index("wrong") + 1 if "wrong" in verdicts else -1
        assert _critique(verdicts) == format_critique(steps, first)


@pytest.mark.parametrize("verdicts,n", [
    (["wrong"], 1), (["correct"], 1), (["correct", "wrong"], 5), (["correct"] * 5, 5),
    (["correct"] * 11 + ["wrong"], 12), (["correct"] * 40, 40),
])
def test_trained_format_matches(verdicts, n):
    g = guided_format(n, 8192)
    text = _critique(verdicts)
    assert g.matches(text), text
    assert parse_critique(text, n).status == "ok"


# Reasoning the constraint admits although it names headings, judgements, answers and braces: no box, and no line
# starting with "Cr", so the reader never takes it for a verdict.
ADMITTED_REASONING = [
    "Judgement: 1. Answer: 3. The answer is 5 and **Answer**: 2",
    "So **Judgement**: -1 boxed}-1 }} \\\\fbox }",
    "I read Critique of Step 2 here, mid-line. Final answer = 7",
    "check: 48/2 = 24, so 48 + 24 = 72 (correct)",
    "Correct: 3 * 4 = 12",
    "c",
    "",
    "\\( 48 \\div 2 = 24 \\) and \\[ 3 \\times 4 \\] so the last word is \\boxed",
    "First I redo it: 2 + 3 = 5.\nThen the units.\n\nRe-check another way: 5 - 3 = 2. Fine.",
    "Two lines.\n- Critique of Step 1 is not a heading here }",
]


@pytest.mark.parametrize("reasoning", ADMITTED_REASONING)
def test_admitted_reasoning_reads_right(reasoning):
    n = 3
    g = guided_format(n, 8192)
    for verdicts in (["correct", "wrong"], ["correct"] * 3, ["wrong"]):
        text = _critique(verdicts, texts=[reasoning] * len(verdicts))
        if not reasoning:  # format_critique writes no reasoning line at all
            text = text.replace("**\n\n**Judgement", "**\n\n\n**Judgement")
        assert g.matches(text), text
        crit = parse_critique(text, n)
        assert crit.status == "ok"
        assert [(v.step1, v.verdict) for v in crit.verdicts] == expected_verdicts(crit.first_wrong_step1, n)
        assert crit.first_wrong_step1 == (verdicts.index("wrong") + 1 if "wrong" in verdicts else -1)


def _malformed() -> dict[str, str]:
    good = _critique(["correct", "wrong"])
    return {
        "starts at step 2": good.replace("Step 1**", "Step 9**", 1),
        "goes on after the wrong step": _critique(["correct", "wrong", "correct"], answer=2),
        "Answer is not the wrong step": _critique(["correct", "wrong"], answer=1),
        "all correct but Answer names a step": _critique(["correct"] * 3, answer=2),
        "stops early without a wrong step": _critique(["correct", "correct"], answer=-1),
        "no Answer line": good.rsplit("\n\n", 1)[0],
        "a box in the reasoning": _critique(["correct", "wrong"], texts=["x \\boxed{1}", "y"]),
        "a brace in the reasoning": _critique(["correct", "wrong"], texts=["\\frac{1}{2}", "y"]),
        "a heading on a later line": _critique(["correct", "wrong"], texts=["fine\nCritique of Step 2", "y"]),
        "three newlines in the reasoning": _critique(["correct", "wrong"], texts=["a\n\n\nb", "y"]),
        "a line that starts with a space": _critique(["correct", "wrong"], texts=["a\n b", "y"]),
        "a heading inside the reasoning": _critique(["correct", "wrong"], texts=["a\n**Critique of Step 2**", "y"]),
        "two lines where the bound allows one": _critique(["correct", "wrong"], texts=["a\nb", "y"]),
        "reasoning starts like a heading": _critique(["correct", "wrong"], texts=["Critique of Step 2 ok", "y"]),
        "reasoning starts with cr": _critique(["correct", "wrong"], texts=["cross-check", "y"]),
        "reasoning starts with a space": _critique(["correct", "wrong"], texts=[" ok", "y"]),
        "reasoning starts with markdown": _critique(["correct", "wrong"], texts=["# ok", "y"]),
        "non-ASCII reasoning": _critique(["correct", "wrong"], texts=["3 × 4 = 12", "y"]),
        "reasoning too long": _critique(["correct", "wrong"], texts=["x" * 41, "y"]),
        "text before the first block": "Let me check.\n" + good,
        "text after the Answer": good + "\nDone.",
        "a verdict other than 1 or -1": good.replace("\\boxed{1}", "\\boxed{0}", 1),
        "Judgment spelled differently": good.replace("Judgement", "Judgment"),
    }


@pytest.mark.parametrize("case", sorted(_malformed()))
def test_malformed_critiques_do_not_match(case):
    g = guided_format(3, 8192, reasoning_chars=40)
    assert g.matches(_critique(["correct", "wrong"]))  # the unmodified critique does
    assert not g.matches(_malformed()[case])


def test_bad_arguments_are_errors():
    with pytest.raises(ValueError, match="at least one step"):
        guided_format(0, 512)
    with pytest.raises(ValueError, match="max_tokens"):
        guided_format(3, 0)
    with pytest.raises(ValueError, match="reasoning_chars"):
        critique_regex(3, -1)
    assert CRITIC_FORMATS == ("free", "guided")


# ---- the engines' regex dialects accept it --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 40])
def test_xgrammar_reads_the_regex(n):
    xgr = pytest.importorskip("xgrammar")
    xgr.Grammar.from_regex(guided_format(n, 4096).regex)  # raises on syntax it does not take


@pytest.mark.parametrize("n", [1, 7, 40])
def test_llguidance_reads_the_regex(n):
    llguidance = pytest.importorskip("llguidance")
    grammar = llguidance.grammar_from("regex", guided_format(n, 4096).regex)
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
    assert not is_error, messages

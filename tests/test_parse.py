"""critic.parse: answer variants, bounds, truncation, per-step verdicts, garbage, and a full-data render->parse trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critic.data import load_mr_gsm8k, load_processbench
from critic.parse import box_integer, boxed_spans, parse_critique, parse_processbench, parse_step_judgement
from critic.prompts import format_critique
from critic.records import StepVerdict
from critic.steps import label0_to_step1

BENCHMARK_FILES = [
    "processbench/gsm8k.json",
    "processbench/math.json",
    "processbench/olympiadbench.json",
    "processbench/omnimath.json",
    "mr-gsm8k/processed_test.json",
]

FULL = (
    "**Critique of Step 1**\nThe sum 2 + 3 = 5 is right; counting up from 2 also gives 5.\n\n"
    "**Judgement**: \\boxed{1}\n\n"
    "**Critique of Step 2**\nIt claims 5 * 4 = 25, but 5 * 4 = 20 (and 20 / 4 = 5 confirms it).\n\n"
    "**Judgement**: \\boxed{-1}\n\n**Answer**: \\boxed{2}"
)


def test_full_critique():
    c = parse_critique(FULL, num_steps=4)
    assert c.status == "ok"
    assert c.first_wrong_step1 == 2
    assert c.first_wrong_label0 == 1
    assert [(v.step1, v.verdict) for v in c.verdicts] == [(1, "correct"), (2, "wrong")]
    assert c.verdicts[1].text.startswith("It claims 5 * 4 = 25")
    assert "Judgement" not in c.verdicts[0].text
    assert c.raw == FULL


@pytest.mark.parametrize(
    "text, expected",
    [
        ("**Answer**: \\boxed{3}", 3),
        ("**Answer:** \\boxed{3}", 3),
        ("Answer: \\boxed{3}", 3),
        ("Answer - \\boxed{3}", 3),
        ("answer \u2014 \\boxed{3}", 3),
        ("## Answer\n\\boxed{3}", 3),
        ("**Final Answer**: \\boxed{3}", 3),
        ("**Answer**:\\boxed{ 3 }", 3),
        ("**Answer**: \\boxed {3}", 3),
        ("**Answer**: \\boxed{Step 3}", 3),
        ("**Answer**: \\boxed{step~3}", 3),
        ("**Answer**: \\boxed{\\text{3}}", 3),
        ("**Answer**: \\boxed{\\text{Step 3}}", 3),
        ("**Answer**: \\boxed{\\textbf{3}}", 3),
        ("**Answer**: $\\boxed{3}$.", 3),
        ("**Answer**: \\boxed{3.}", 3),
        ("**Answer**: \\boxed{-1}", -1),
        ("**Answer**: \\boxed{ - 1 }", -1),
        ("**Answer**: \\boxed{\u22121}", -1),
        ("**Answer**: \\boxed{+2}", 2),
        # the last box after the final marker wins
        ("Answer: \\boxed{1} ... on reflection, **Answer**: \\boxed{2} \\boxed{3}", 3),
        # no marker: the last box of the text
        ("All steps hold up, so \\boxed{-1}", -1),
        # a marker with no box after it: fall back to the last box
        ("So \\boxed{2}. That is my answer.", 2),
        # judgement and answer on one line
        ("**Judgement**: \\boxed{-1} **Answer**: \\boxed{2}", 2),
        # a judgement box after the final marker is not the answer
        ("The answer: 12 is claimed.\n**Judgement**: \\boxed{-1}\n**Answer**: \\boxed{1}", 1),
    ],
)
def test_answer_variants(text, expected):
    c = parse_critique(text, num_steps=5)
    assert (c.status, c.first_wrong_step1) == ("ok", expected)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no box at all",
        "**Answer**: 3",
        "**Answer**: \\boxed{}",
        "**Answer**: \\boxed{0}",  # 0 is no step in 1-based form
        "**Answer**: \\boxed{6}",  # beyond the 5 steps
        "**Answer**: \\boxed{-2}",
        "**Answer**: \\boxed{3.5}",
        "**Answer**: \\boxed{x}",
        "**Answer**: \\boxed{3, 4}",
        "**Answer**: \\boxed{" + "9" * 5000 + "}",
        "**Answer**: \\boxed{3",  # unbalanced
        # cut off right after a wrong-step judgement: must not read as "accepts every step"
        "**Critique of Step 1**\nwrong\n**Judgement**: \\boxed{-1}",
        "**Critique of Step 1**\nfine\n**Judgement**: \\boxed{1}",
    ],
)
def test_unreadable_is_unparsed(text):
    c = parse_critique(text, num_steps=5)
    assert c.status == "unparsed"
    assert c.first_wrong_step1 is None
    assert c.first_wrong_label0 is None
    assert not c.accepts


def test_truncated_only_when_length_and_unreadable():
    cut = "**Critique of Step 1**\nLooks fine.\n**Judgement**: \\boxed{1}\n\n**Critique of Step 2**\nHmm, 5 * 4"
    c = parse_critique(cut, num_steps=3, finish_reason="length")
    assert c.status == "truncated"
    assert c.first_wrong_step1 is None
    assert [v.step1 for v in c.verdicts] == [1]
    assert parse_critique(cut, num_steps=3).status == "unparsed"
    assert parse_critique(FULL, num_steps=4, finish_reason="length").status == "ok"


def test_box_inside_an_unfinished_step_block_is_not_an_answer():
    # Cut off inside Step 2's critique: its \boxed{11} is the step's math, not a verdict.
    cut = "**Critique of Step 1**\nfine\n**Judgement**: \\boxed{1}\n\n**Critique of Step 2**\nIt claims \\boxed{11}"
    assert parse_critique(cut, num_steps=20).status == "unparsed"
    assert parse_critique(cut, num_steps=20, finish_reason="length").status == "truncated"
    # Once the block is closed, a box after it (without an Answer label) is the answer.
    closed = cut + "\n**Judgement**: \\boxed{-1}\n\nThe first wrong step is \\boxed{2}."
    assert parse_critique(closed, num_steps=20).first_wrong_step1 == 2


def test_heading_with_text_on_its_line():
    text = "**Critique of Step 1**: The sum 2 + 3 = 5 holds.\n**Judgement**: \\boxed{1}\n**Answer**: \\boxed{-1}"
    c = parse_critique(text, 1)
    assert c.accepts
    assert c.verdicts[0].text == "The sum 2 + 3 = 5 holds."


def test_accepts():
    c = parse_critique("**Critique of Step 1**\nok\n**Judgement**: \\boxed{1}\n**Answer**: \\boxed{-1}", 1)
    assert c.accepts and c.first_wrong_label0 == -1


def test_verdict_blocks_variants():
    text = (
        "### Critique of Step 1:\nfine\nJudgment: \\boxed{1}\n\n"
        "**Critique of Step 1**\nrepeated, ignored\n**Judgement**: \\boxed{-1}\n\n"
        "**Critique of Step 2**\nno judgement here\n\n"
        "critique of step 3\nwrong: 7 * 8 = 54 but \\boxed{56} is right\n**Judgement:** \\boxed{\\text{-1}}\n\n"
        "**Critique of Step 9**\nout of range\n**Judgement**: \\boxed{1}\n\n"
        "**Answer**: \\boxed{3}"
    )
    c = parse_critique(text, num_steps=4)
    assert c.first_wrong_step1 == 3
    assert [(v.step1, v.verdict) for v in c.verdicts] == [(1, "correct"), (3, "wrong")]
    assert c.verdicts[1].text == "wrong: 7 * 8 = 54 but \\boxed{56} is right"


def test_verdicts_do_not_swallow_the_answer_line():
    c = parse_critique(FULL, num_steps=2)
    assert "Answer" not in c.verdicts[-1].text


@pytest.mark.parametrize(
    "text, step1",
    [
        ("So paragraph 2 is wrong: \\boxed{2}", 3),
        ("\\boxed{0}", 1),
        ("\\boxed{-1}", -1),
        ("\\boxed{paragraph_1}", 2),
        ("**Answer**: \\boxed{ 3 }", 4),
    ],
)
def test_processbench_zero_based(text, step1):
    c = parse_processbench(text, num_steps=4)
    assert (c.status, c.first_wrong_step1) == ("ok", step1)
    assert c.first_wrong_label0 == (step1 - 1 if step1 > 0 else -1)


@pytest.mark.parametrize("text", ["\\boxed{4}", "\\boxed{-2}", "nothing", "\\boxed{two}"])
def test_processbench_unreadable(text):
    assert parse_processbench(text, num_steps=4).status == "unparsed"
    assert parse_processbench(text, num_steps=4, finish_reason="length").status == "truncated"


@pytest.mark.parametrize(
    "text, verdict",
    [
        ("Checks out.\n**Judgement**: \\boxed{1}", "correct"),
        ("Wrong.\n**Judgement**: \\boxed{-1}", "wrong"),
        ("Judgment - \\boxed{ -1 }", "wrong"),
        ("The product is \\boxed{12}, as claimed.\n**Judgement**: \\boxed{1}", "correct"),
        ("verdict \\boxed{-1}", "wrong"),
        ("**Judgement**: \\boxed{\\text{incorrect}}", "wrong"),
        ("**Judgement**: \\boxed{correct}", "correct"),
        ("**Judgement**: \\boxed{2}", None),
        ("no verdict", None),
        ("", None),
    ],
)
def test_step_judgement(text, verdict):
    assert parse_step_judgement(text) == verdict


def test_box_helpers():
    assert [c for _, _, c in boxed_spans("\\boxed{a{b}c} x \\boxed{\\{d\\}} \\boxed{open")] == ["a{b}c", "\\{d\\}"]
    assert box_integer("\\mathrm{Step}\\ 4") == 4
    assert box_integer("four") is None


FRAGMENTS = [
    "**Critique of Step ", "1", "2", "-1", "0", "**", "\n", "\n\n", "**Judgement**: ", "Judgment", "**Answer**: ",
    "Answer", ":", "\\boxed{", "}", "{", "\\text{", "Step ", "###", "*", "#", " ", "critique of step", "\\", "$",
    "paragraph_", "\u2212", "9" * 30,
]


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.text(max_size=400), st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join)),
    st.integers(min_value=-3, max_value=50),
    st.sampled_from(["stop", "length", "error", ""]),
)
def test_never_raises(text, num_steps, finish_reason):
    c = parse_critique(text, num_steps, finish_reason)
    assert c.status in {"ok", "unparsed", "truncated"}
    if c.status == "ok":
        assert c.first_wrong_step1 == -1 or 1 <= c.first_wrong_step1 <= num_steps
    else:
        assert c.first_wrong_step1 is None
    assert all(1 <= v.step1 <= max(num_steps, 0) for v in c.verdicts)
    pb = parse_processbench(text, num_steps, finish_reason)
    assert pb.status in {"ok", "unparsed", "truncated"}
    assert parse_step_judgement(text) in {"correct", "wrong", None}


def test_pathological_inputs_finish():
    # Decoration runs and unclosed boxes are where a careless regex backtracks exponentially.
    for text in ["*" * 5000 + "x", "#" * 5000, "\\boxed{" * 3000, "Critique of Step " * 2000, " " * 20000 + "x",
                 ("**" + "_" * 50) * 200, "Answer:" * 3000 + "\\boxed{1}"]:
        parse_critique(text, 3)
        parse_processbench(text, 3)
        parse_step_judgement(text)


def _verdicts_for(label0: int, steps: list[str]) -> list[StepVerdict]:
    """A critique that quotes each step (so step text - boxes, "# Answer" lines and all - sits inside the blocks)."""
    last = len(steps) if label0 == -1 else label0 + 1
    return [
        StepVerdict(
            step1=i,
            verdict="wrong" if i - 1 == label0 else "correct",
            text=f"The step says:\n{steps[i - 1]}\nChecking it a second way gives the same conclusion.",
        )
        for i in range(1, last + 1)
    ]


def _round_trip_mismatches(rows) -> list[str]:
    bad = []
    for row in rows:
        verdicts = _verdicts_for(row.label0, row.steps)
        text = format_critique(verdicts, label0_to_step1(row.label0))
        c = parse_critique(text, len(row.steps))
        got = [(v.step1, v.verdict) for v in c.verdicts]
        if c.status != "ok" or c.first_wrong_step1 != label0_to_step1(row.label0) or got != [
            (v.step1, v.verdict) for v in verdicts
        ]:
            bad.append(row.id)
    return bad


def test_rendered_critique_parses_back_fixtures(fixtures_dir):
    rows = load_processbench(fixtures_dir / "processbench_math.json") + load_mr_gsm8k(fixtures_dir / "mr_gsm8k.json")
    assert _round_trip_mismatches(rows) == []


@pytest.mark.parametrize("relpath", BENCHMARK_FILES)
def test_rendered_critique_parses_back_every_row(data_dir, relpath):
    path = data_dir / relpath
    rows = load_mr_gsm8k(path) if relpath.startswith("mr-gsm8k") else load_processbench(path)
    assert _round_trip_mismatches(rows) == []


# --- issue 9: the kinds of critique text that were read wrong --------------------------------------------------

TEACHER = (
    "**Critique of Step 1**: The step multiplies 3 * 4 = 12 correctly.\n**Judgement**:\n"
    "#### The correctness of Step 1 is: \\boxed{1}\n\n"
    "**Critique of Step 2**: It adds 12 + 5 = 17, but the problem subtracts 5, so 12 - 5 = 7.\n**Judgement**:\n"
    "#### The correctness of Step 2 is: \\boxed{-1}\n\n**Answer**: \\boxed{2}"
)


@pytest.mark.parametrize(
    "judgement",
    [
        "**Judgement**:\n#### The correctness of Step {i} is: \\boxed{{{v}}}",  # DeepCritic's teacher format
        "**Judgement**:\n\\boxed{{{v}}}",
        "Judgement:\n$\\boxed{{{v}}}$",
        "**Judgment**:\n\\[\\boxed{{{v}}}\\]",
        "#### The correctness of Step {i} is: \\boxed{{{v}}}",
        "**Judgement**: The correctness of Step {i} is \\boxed{{{v}}}",
    ],
)
def test_judgement_on_the_next_line_or_as_a_correctness_line(judgement):
    blocks = [
        f"**Critique of Step {i}**: reasoning about step {i}, checked twice.\n" + judgement.format(i=i, v=v)
        for i, v in ((1, 1), (2, 1), (3, -1))
    ]
    text = "\n\n".join(blocks) + "\n\n**Answer**: \\boxed{3}"
    c = parse_critique(text, num_steps=4)
    assert (c.status, c.first_wrong_step1) == ("ok", 3)
    assert [(v.step1, v.verdict) for v in c.verdicts] == [(1, "correct"), (2, "correct"), (3, "wrong")]
    assert all(v.text == f"reasoning about step {v.step1}, checked twice." for v in c.verdicts)
    cut = text[: text.index("**Answer**")]
    for finish in ("length", "stop"):
        c = parse_critique(cut, num_steps=4, finish_reason=finish)
        assert c.status == ("truncated" if finish == "length" else "unparsed")
        assert [(v.step1, v.verdict) for v in c.verdicts][-1] == (3, "wrong")


def test_teacher_format_reads_and_earns_the_format_reward():
    from training.rewards import first_error_reward, format_reward

    c = parse_critique(TEACHER, num_steps=3)
    assert (c.status, c.first_wrong_step1) == ("ok", 2)
    assert [(v.step1, v.verdict) for v in c.verdicts] == [(1, "correct"), (2, "wrong")]
    assert format_reward([TEACHER], num_steps=[3]) == [1.0]
    assert first_error_reward([TEACHER], label0=[1], num_steps=[3]) == [1.0]
    cut = parse_critique(TEACHER[: TEACHER.index("**Answer**")], num_steps=3, finish_reason="length")
    assert cut.status == "truncated" and cut.verdicts[-1].verdict == "wrong"


@pytest.mark.parametrize(
    "note",
    [
        "Note: the solution's final answer \\boxed{18} is therefore also wrong.",
        "(The solution ends with \\boxed{18}, which inherits the error.)",
        "The final answer \\boxed{18} of the solution is wrong as a result.",
        "So its answer: \\boxed{18} cannot be right.",
        "Its final answer, $\\boxed{18}$, is off as well.",
    ],
)
@pytest.mark.parametrize("answer_line", ["**Answer**: \\boxed{2}", "**Final Answer**: $\\boxed{2}$",
                                         "Answer: \\boxed{2}", "## Answer\n\\boxed{2}"])
def test_a_closing_note_does_not_replace_the_answer_line(note, answer_line):
    text = FULL.replace("**Answer**: \\boxed{2}", answer_line) + "\n\n" + note
    c = parse_critique(text, num_steps=4)
    assert (c.status, c.first_wrong_step1) == ("ok", 2)


QUOTES = [
    "The step itself says: The answer is: \\boxed{-1}",
    "It ends with '# Answer\n\n-1'.",
    "The solution writes Answer: \\boxed{-1} here.",
    "**Answer**: \\boxed{-1}",  # the solution's own answer line, quoted at a line start
    "So the answer is \\boxed{3} and \\boxed{-1}",
    "$$\\boxed{-1}$$",
]


@pytest.mark.parametrize("quote", QUOTES)
@pytest.mark.parametrize("finish", ["length", "stop"])
def test_cut_inside_a_step_block_never_gives_a_final_verdict(quote, finish):
    # Steps 1-2 judged correct, then cut inside step 3's block right after it quotes the solution's own answer.
    text = ("**Critique of Step 1**\nfine\n**Judgement**: \\boxed{1}\n\n**Critique of Step 2**\nfine\n"
            "**Judgement**: \\boxed{1}\n\n**Critique of Step 3**\n" + quote)
    c = parse_critique(text, num_steps=5, finish_reason=finish)
    assert c.status == ("truncated" if finish == "length" else "unparsed")
    assert c.first_wrong_step1 is None and not c.accepts
    assert [(v.step1, v.verdict) for v in c.verdicts] == [(1, "correct"), (2, "correct")]


def test_label_and_answer_line_rules_stay_linear():
    # A child process, so a catastrophic regex cannot hang the suite (re does not yield to signals); the limit is a
    # hang guard far above the time the calls need.
    import subprocess
    import sys

    code = (
        "from critic.parse import parse_critique, parse_processbench, parse_step_judgement\n"
        "texts = ['\\\\boxed{1}' * 20000, '**Answer**' * 5000 + '\\\\boxed{1}', ('**' + ' ' * 50) * 400 + 'answer:',\n"
        "         '\\n' * 50000 + '\\\\boxed{1}', '$$\\n' * 20000 + '\\\\boxed{1}', 'Judgement:\\n\\\\[\\n' * 5000,\n"
        "         ('Critique of Step 1\\n' + 'Judgement \\\\boxed{1} ') * 3000, 'the final ' * 5000 + 'answer',\n"
        "         ' ' * 50000 + 'Answer:' + ' ' * 50000, ('x' * 200 + '\\\\boxed{2}') * 2000]\n"
        "for t in texts:\n"
        "    parse_critique(t, 3); parse_processbench(t, 3); parse_step_judgement(t)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

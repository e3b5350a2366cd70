"""Critic text -> :class:`~critic.records.Critique`.

The trained format (see :func:`critic.prompts.format_critique`) is one block per step, each headed
``**Critique of Step i**`` and closed by ``**Judgement**: \\boxed{1}`` (correct) or ``\\boxed{-1}`` (wrong), and a final
``**Answer**: \\boxed{k}`` (1-based first wrong step) or ``\\boxed{-1}`` (all correct).

Rules, in order:

* **Labels.** A box belongs to the nearest label before it - "Judgement"/"Judgment" or "The correctness of Step i
  is" (a judgement), or "Answer" (an answer) - on the box's line or the line above (``**Judgement**:`` then
  ``#### The correctness of Step 1 is: \\boxed{1}`` on the next line), with no other box in between.
* **The final judgment** is read from the last *Answer line*: "Answer" at the start of a line (after markdown
  decoration, optionally "The"/"My" and "Final") or in bold anywhere (``**Answer**:``, ``**Final Answer**``). Its
  value is the last box on that line, else the last box on the next non-empty line. A box that prose merely mentions
  ("Note: the solution's final answer \\boxed{18} is wrong") is no Answer line. Without an Answer line holding a
  box, the last box of the text counts, unless it is a step's judgement: a critique cut off right after
  ``**Judgement**: \\boxed{-1}`` must not read as "accepts every step".
* **Closed blocks only.** When the text has "Critique of Step i" headings, a final judgment is read only after the
  judgement of the last block. Inside an unfinished block every box, "Answer:" or "The answer is" is the solution's
  own text being quoted (``\\boxed{18}``, ``# Answer``), not the critic's verdict. So cutting a well-formed critique
  at any character before its Answer line never yields status ``ok``.
* Box contents tolerate spacing and decoration: ``\\boxed{ 3 }``, ``\\boxed{Step 3}``, ``\\boxed{\\text{3}}``.
* No readable answer, a non-integer, ``0``, an index beyond the steps or below ``-1`` -> status ``unparsed``; when the
  generation stopped on its token limit (``finish_reason == "length"``) and nothing was readable -> ``truncated``.
* Nothing here raises, whatever the text: every public function returns a record (the tests feed it random strings).

Boxes are read by :mod:`critic.boxed` (the one box reader; ``last_boxed`` and ``boxed_spans`` are re-exported here).
"""

from __future__ import annotations

import bisect
import re

from critic.boxed import boxed_spans, last_boxed
from critic.engines.base import FinishReason
from critic.records import NO_ERROR, Critique, StepVerdict, Verdict
from critic.steps import label0_to_step1

__all__ = [
    "box_integer", "boxed_spans", "critique_body", "last_boxed", "parse_critique", "parse_processbench",
    "parse_step_judgement", "step_verdicts",
]

# Each pattern below consumes decoration one character per repetition, so no input backtracks exponentially.
# An Answer line: "**Answer**:", "Answer -", "## Answer" + newline, "Final answer =", "The final answer:", at a line
# start (after decoration) ...
_ANSWER_LINE = re.compile(
    r"(?im)^[ \t]*(?:[#*_>][ \t]*)*(?:"
    r"(?:(?:the|my)[ \t]+)?(?:final[ \t]+)?answer\b[ \t*_]*(?:[:\-\u2013\u2014=]|$)"
    r"|(?:final[ \t]+)?answer\b[ \t*_]*(?=\\boxed))"  # "Answer \boxed{3}", but not "The final answer \boxed{18} is"
)
# ... or in bold anywhere: "**Answer**", "**Final Answer:**", "__Answer__".
_ANSWER_BOLD = re.compile(r"(?i)(?:\*\*|__)[ \t]*(?:final[ \t]+)?answer[ \t]*[:=]?[ \t]*(?:\*\*|__)")
_ANSWER_WORD = re.compile(r"(?i)\banswer\b")
_DELIMITER_LINE = re.compile(r"[ \t]*(?:\\\[|\$\$|\\\(|\$)?[ \t]*")
_BARE_LABEL = re.compile(r"(?i)[ \t]*(?:[#*_>][ \t]*)*(?:judge?ment|final[ \t]+answer|answer)[ \t*_:]*")
# "**Judgement**", "Judgment -", "The correctness of Step 2 is:".
_JUDGEMENT_WORD = re.compile(r"(?i)\bjudge?ment\b|\bcorrectness[ \t]+of[ \t]+(?:step|paragraph)\b")
# A step heading at a line start: "**Critique of Step 3**", "### Critique of Step 3:", "Critique of step 3". Only the
# heading and its decoration are consumed; text on the same line after it belongs to the critique.
_STEP_HEADING = re.compile(r"(?im)^[ \t]*(?:[#*_>][ \t]*)*critique[ \t]+of[ \t]+step[ \t]*(\d{1,6})\b[ \t*_:.)]*")
# Decoration that may wrap an index inside a box: \text{..}, \mathrm{..}, \textbf{..}, \mathbf{..}.
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|mbox)[ \t]*\{([^{}]*)\}")
_INDEX_WORDS = re.compile(r"(?i)^(?:step|paragraph|para)[ \t_~]*")
_INTEGER = re.compile(r"[+-]?\d{1,6}")
_MAX_BOX_CHARS = 200  # box contents longer than this are prose, never an index
_LABEL_LOOKBACK = 240  # how far before a box its "Judgement"/"Answer" label may start


def _unwrap(content: str) -> str:
    for _ in range(4):  # nested wrappers such as \textbf{\text{3}}
        content = _TEXT_WRAPPER.sub(r"\1", content)
    return content


def box_integer(content: str) -> int | None:
    """The integer a box holds (``3``, `` 3 ``, ``Step 3``, ``\\text{3}``, ``paragraph_2``, ``−1``), else None."""
    if len(content) > _MAX_BOX_CHARS:
        return None
    s = _unwrap(content).replace("\u2212", "-").replace("$", "").replace("\\,", "").replace("\\ ", "").replace("~", " ")
    s = s.strip().strip("{}").strip().rstrip(".").strip()
    s = _INDEX_WORDS.sub("", s)
    s = re.sub(r"\s+", "", s)
    return int(s) if _INTEGER.fullmatch(s) else None


class _Boxes:
    """The boxes of one text with the label each belongs to (``"judgement"``, ``"answer"`` or None)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans = boxed_spans(text)
        self.starts = [s for s, _, _ in self.spans]
        self.labels: list[str | None] = []
        self.label_at: list[int] = []
        prev_end = 0
        for start, end, _ in self.spans:
            kind, at = self._label(start, prev_end)
            self.labels.append(kind)
            self.label_at.append(at)
            prev_end = max(prev_end, end)

    def _label(self, box_start: int, prev_end: int) -> tuple[str | None, int]:
        text = self.text
        floor = max(prev_end, box_start - _LABEL_LOOKBACK)
        line_start = max(text.rfind("\n", floor, box_start) + 1, floor)  # bounded look-back: linear overall
        # skip lines above that hold only maths delimiters ("\\[", "$$"), then take one more line: the label may
        # stand on its own line above the box ("**Judgement**:\n#### ... \boxed{1}")
        above = line_start
        while above > floor:
            newline = above - 1  # the "\n" that ends the line above
            above = max(text.rfind("\n", floor, newline) + 1, floor)
            if not _DELIMITER_LINE.fullmatch(text, above, newline):
                break
        window = max(above, floor)
        best: tuple[str | None, int] = (None, -1)
        for kind, pattern in (("judgement", _JUDGEMENT_WORD), ("answer", _ANSWER_WORD)):
            for m in pattern.finditer(text, window, box_start):
                if m.start() > best[1]:
                    best = (kind, m.start())
        if best[0] is None:
            return None, box_start
        at = max(text.rfind("\n", window, best[1]) + 1, window)
        if at > window:  # a bare label line just above ("**Judgement**:") belongs to the judgement too
            above_start = max(text.rfind("\n", window, at - 1) + 1, window)
            if above_start >= window and _BARE_LABEL.fullmatch(text, above_start, at - 1):
                at = above_start
        return best[0], at

    def between(self, lo: int, hi: int) -> range:
        """Indices of the boxes that start in ``[lo, hi)``."""
        return range(bisect.bisect_left(self.starts, lo), bisect.bisect_left(self.starts, hi))


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _answer_lines(text: str, lo: int) -> list[int]:
    """End positions of the Answer labels that start at or after ``lo``, in order."""
    found = {m.end() for m in _ANSWER_LINE.finditer(text, lo)} | {m.end() for m in _ANSWER_BOLD.finditer(text, lo)}
    return sorted(found)


def _final_box(boxes: _Boxes, lo: int = 0) -> str | None:
    """The box holding the final judgment, by the rules in the module docstring, among boxes starting at ``lo`` or
    later; None when there is none."""
    text = boxes.text
    candidates = [i for i in boxes.between(lo, len(text) + 1) if boxes.labels[i] != "judgement"]
    labels = _answer_lines(text, lo)
    if labels:
        label_end = labels[-1]
        line_end = _line_end(text, label_end)
        on_line = [i for i in candidates if label_end <= boxes.starts[i] < line_end]
        if not on_line:  # "## Answer" then the box on the next non-empty line
            nxt = line_end
            while nxt < len(text):
                while nxt < len(text) and text[nxt] in " \t\n":
                    nxt += 1
                if not _DELIMITER_LINE.fullmatch(text, nxt, _line_end(text, nxt)):
                    break
                nxt = _line_end(text, nxt)  # a line with only "\\[" or "$$": the box is on the next one
            if nxt < len(text):
                on_line = [i for i in candidates if nxt <= boxes.starts[i] < _line_end(text, nxt)]
        if on_line:
            return boxes.spans[on_line[-1]][2]
    last = boxes.between(lo, len(text) + 1)
    if not last or boxes.labels[last[-1]] == "judgement":
        return None
    return boxes.spans[last[-1]][2]


def _closed_after(text: str, boxes: _Boxes, headings: list[re.Match[str]]) -> int | None:
    """Where a final judgment may start: 0 without step headings; after the last block's judgement box with them;
    None when the last block has no judgement (it is unfinished)."""
    if not headings:
        return 0
    last = headings[-1].end()
    for i in boxes.between(last, len(text) + 1):
        if boxes.labels[i] == "judgement":
            return boxes.spans[i][1]
    return None


def _verdict_value(content: str) -> Verdict | None:
    value = box_integer(content)
    if value == 1:
        return "correct"
    if value == -1:
        return "wrong"
    if len(content) > _MAX_BOX_CHARS:
        return None
    word = re.sub(r"[^a-z]", "", _unwrap(content).lower())
    if word in {"correct", "right", "true"}:
        return "correct"
    if word in {"incorrect", "wrong", "false"}:
        return "wrong"
    return None


def _judgement(boxes: _Boxes, lo: int, hi: int) -> tuple[Verdict | None, int]:
    """The verdict in ``text[lo:hi]`` (a step block) and where its judgement label's line starts (``hi`` when none)."""
    for i in reversed(boxes.between(lo, hi)):
        if boxes.labels[i] == "judgement" and boxes.spans[i][1] <= hi:
            return _verdict_value(boxes.spans[i][2]), max(boxes.label_at[i], lo)
    return None, hi


def step_verdicts(text: str, num_steps: int | None = None) -> list[StepVerdict]:
    """Per-step verdicts from "Critique of Step i" blocks and their judgement boxes, in order of appearance.

    A block without a readable judgement, a repeated step number or (when ``num_steps`` is given) a step outside
    ``1..num_steps`` gives no verdict. ``text`` of each verdict is the reasoning between heading and judgement.
    """
    text = text if isinstance(text, str) else str(text)
    return _verdicts(text, _Boxes(text), list(_STEP_HEADING.finditer(text)), num_steps)


def _verdicts(text: str, boxes: _Boxes, headings: list[re.Match[str]], num_steps: int | None) -> list[StepVerdict]:
    verdicts: list[StepVerdict] = []
    seen: set[int] = set()
    for h, nxt in zip(headings, headings[1:] + [None]):
        end = nxt.start() if nxt else len(text)
        step1 = int(h.group(1))
        if step1 in seen or step1 < 1 or (num_steps is not None and step1 > num_steps):
            continue
        verdict, judgement_at = _judgement(boxes, h.end(), end)
        if verdict is None:
            continue
        seen.add(step1)
        verdicts.append(StepVerdict(step1=step1, verdict=verdict, text=text[h.end():judgement_at].strip()))
    return verdicts


def critique_body(text: str) -> str:
    """A step critique without its own heading and its judgement line (what a trained-format block wraps)."""
    body = text.strip()
    heading = _STEP_HEADING.match(body)
    if heading:
        body = body[heading.end():]
    _, judgement_at = _judgement(_Boxes(body), 0, len(body))
    return body[:judgement_at].strip()


def _unreadable(text: str, finish_reason: FinishReason, verdicts: list[StepVerdict]) -> Critique:
    status = "truncated" if finish_reason == "length" else "unparsed"
    return Critique(status=status, first_wrong_step1=None, verdicts=verdicts, raw=text)


def parse_critique(text: str, num_steps: int, finish_reason: FinishReason = "stop") -> Critique:
    """Parse a deliberate (1-based) critique. Never raises."""
    text = text if isinstance(text, str) else str(text)
    boxes = _Boxes(text)
    headings = list(_STEP_HEADING.finditer(text))
    verdicts = _verdicts(text, boxes, headings, num_steps)
    closed = _closed_after(text, boxes, headings)
    content = None if closed is None else _final_box(boxes, closed)
    answer = None if content is None else box_integer(content)
    if answer is None or not (answer == NO_ERROR or 1 <= answer <= num_steps):
        return _unreadable(text, finish_reason, verdicts)
    return Critique(status="ok", first_wrong_step1=answer, verdicts=verdicts, raw=text)


def parse_processbench(text: str, num_steps: int, finish_reason: FinishReason = "stop") -> Critique:
    """Parse a ProcessBench-style answer: a 0-based paragraph index (or -1) in the final ``\\boxed{}``.

    The result speaks 1-based like every Critique (``first_wrong_step1``). Never raises.
    """
    text = text if isinstance(text, str) else str(text)
    content = _final_box(_Boxes(text))
    label0 = None if content is None else box_integer(content)
    if label0 is None or not (label0 == NO_ERROR or 0 <= label0 < num_steps):
        return _unreadable(text, finish_reason, [])
    return Critique(status="ok", first_wrong_step1=label0_to_step1(label0), raw=text)


def parse_step_judgement(text: str) -> Verdict | None:
    """One step's verdict from a teacher's output: the judgement box (``\\boxed{1}`` correct, ``\\boxed{-1}`` wrong),
    else the last box of the text; None when neither is readable. Never raises."""
    text = text if isinstance(text, str) else str(text)
    verdict, _ = _judgement(_Boxes(text), 0, len(text))
    if verdict is not None:
        return verdict
    content = last_boxed(text)
    return None if content is None else _verdict_value(content)

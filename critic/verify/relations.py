"""Relations a step derives from one another: ``-2 + 4a + 8 = 0 \\Rightarrow 4a = -10``, ``m^2 - 32 > 0``, which
implies ``(m-4)(m+8) > 0``.

A relation here is one equation or inequality between two expressions (``A = B``, ``A > B``). Two consecutive
relations are *linked* when only an implication sign (``\\Rightarrow``, ``\\implies``, ``\\iff``) or a few words
that say "rearranged" (so, thus, gives, simplifies to, subtracting ...) stand between them - and no "or", "case",
"if", "similarly" that would make the second a separate statement. A linked pair is checked with
:func:`critic.verify.algebra.rearrangement`.
"""

from __future__ import annotations

from dataclasses import dataclass

from critic.verify import guards
from critic.verify.parse import Node
from critic.verify.tokens import MATHY, Token
from critic.verify.values import Unreadable, read

INEQUALITIES = {"<": "<", ">": ">", "\u2264": "<=", "\u2265": ">=", "\\le": "<=", "\\leq": "<=", "\\leqslant": "<=",
                "\\ge": ">=", "\\geq": ">=", "\\geqslant": ">=", "\\lt": "<", "\\gt": ">"}
_CONNECTIVES = frozenset("""so thus hence therefore implies implying gives giving get gets becomes become simplifies
simplify simplifying simplified rearrange rearranging rearranged subtract subtracting subtracted add adding added
divide dividing divided multiply multiplying multiplied move moving isolate isolating yields yield obtain obtains
equivalently means expand expanding expanded combining collecting""".split())
_BLOCKERS = frozenset("""or if case cases also similarly second other another when where suppose assume let check
checking verify verifying not but however either each both these those equations solutions""".split())
# "x + y = 5 and x + 2y = 5": two statements; "Expanding and simplifying, we have": one derivation
_SOFT_BLOCKERS = frozenset({"and"})
_ALTERNATIVES = frozenset({"or", "and"})  # "2x = a or 2x = b, so x = c or x = d": which pairs with which?
_MAX_LINK_WORDS = 8


@dataclass
class Relation:
    """One relation a step states: ``left op right`` as token lists (``op`` one of ``= < > <= >=``), the token span
    ``[start, end)`` it covers in the step, and its two parsed sides once read."""

    left: list[Token]
    right: list[Token]
    op: str  # "=", "<", ">", "<=", ">="
    start: int  # token index of its first token
    end: int  # token index after its last token
    trees: tuple[Node, Node] | None = None


def _op(t: Token) -> str | None:
    if t.kind == "EQ":
        return "="
    if t.kind == "REL":
        return INEQUALITIES.get(t.text)
    return None


def relations(text: str, toks: list[Token]) -> list[Relation]:
    """Every single-relation statement ``A op B`` of the step, cut cleanly on both sides, in order."""
    found: list[Relation] = []
    runs: list[list[int]] = [[]]
    ops: list[str] = []

    def close(k: int) -> None:
        if len(ops) == 1 and runs[0] and runs[1]:
            left = [toks[i] for i in runs[0]]
            right = [toks[i] for i in runs[1]]
            if guards.clean_left(text, toks, runs[0][0] - 1, left) and \
                    guards.clean_right(text, toks, runs[1][-1] + 1, right):
                found.append(Relation(left, right, ops[0], runs[0][0], k))

    for k, t in enumerate(toks):
        op = _op(t)
        if t.kind in MATHY:
            runs[-1].append(k)
        elif op is not None and runs[-1]:
            ops.append(op)
            runs.append([])
        elif t.kind in ("DELIM", "BREAK", "AMP") and not ops and not runs[0]:
            continue
        else:
            close(k)
            runs, ops = [[]], []
    close(len(toks))
    for rel in found:
        try:
            rel.trees = (read(rel.left), read(rel.right))
        except Unreadable:
            rel.trees = None
    return [r for r in found if r.trees is not None]


def _words(toks: list[Token]) -> list[str]:
    return [w for t in toks if t.kind == "WORD" for w in t.words]


def linked(toks: list[Token], first: Relation, second: Relation, before: int, after: int) -> bool:
    """Is ``second`` derived from ``first`` (an implication sign or rearranging words between them)? ``before`` /
    ``after``: where the relations around them end / start; one of a list of alternatives ("or") pairs with none."""
    if any(w in _ALTERNATIVES for w in _words(toks[before:first.start])[-3:]) or any(
            w in _ALTERNATIVES for w in _words(toks[second.end:after])[:3]):
        return False
    between = toks[first.end:second.start]
    words: list[str] = []
    implication = False
    for t in between:
        if t.kind in MATHY or t.kind in ("EQ", "APPROX"):
            return False
        if t.kind == "REL":
            if t.text not in guards.IMPLICATIONS:
                return False
            implication = True
        elif t.kind == "WORD":
            words.extend(t.words)
    connective = any(w in _CONNECTIVES for w in words)
    if len(words) > _MAX_LINK_WORDS or any(w in _BLOCKERS or w in _SOFT_BLOCKERS and not connective for w in words):
        return False
    if not words and any(t.kind == "PUNCT" and t.text == ":" for t in between):
        return True  # "the quadratic equation \\( n^2 - 3n + 2 = 322 \\): \\[ n^2 - 3n - 318 = 0 \\]"
    return implication or connective

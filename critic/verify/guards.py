"""Plain-text guards: what around a stated equality decides whether it is a claim we may check.

A step's words decide whether ``a = b`` is asserted arithmetic at all: units inside the expression, a word that
may belong to the expression ("half of 10 + 4"), a scale word after the value ("= 3 million"), rounding ("about"),
a hypothesis or negation that belongs to the claim ("if it were 5 + 3 = 9", "not 12 + 5 = 18"). Each guard here
says exactly which of these it looks for and where; a guard that fires makes the claim unknown, never wrong.
"""

from __future__ import annotations

from fractions import Fraction

from critic.verify.tokens import Token

# A word right before an expression that may belong to it ("half of 10 + 4", "17 mod 5 = 2", "twice 3 + 1").
_LEFT_RISKY = frozenset("""x of times twice half double triple thrice by per over mod modulo plus minus than divided
multiplied multiply divide into quarter quarters third thirds fourth fourths fifth fifths squared cubed sqrt root
log ln sin cos tan cot sec csc exp choose gcd lcm from add subtract remaining each every sum product difference
quotient floor ceil ceiling round rounded rounding average mean power least most""".split())
# A word right after a stated value that changes it ("= 3 million", "= 150 cents", "= 2 mod 5").
_RIGHT_RISKY = frozenset("""hundred hundreds thousand thousands million millions billion billions trillion dozen dozens
k m b bn percent percentage percentages cents cent pence times squared cubed mod modulo remainder remainders th st
nd rd of per fold x""".split())
# Words around a claim that make a mismatch intended or hypothetical rather than an error.
_DOUBT_WORDS = frozenset("""not isn aren doesn don didn wasn weren cannot never no fails fail failed false incorrect
wrong contradiction contradicts mistake error oops wait check checking verify verifying test testing try trying
suppose assume assuming if instead mistakenly incorrectly substituting substitute plugging plug""".split())
# Words anywhere in a step that say its numbers are rounded.
ROUNDING_WORDS = frozenset("""approximately approx roughly estimate estimated round rounded rounding rounds truncate
truncated""".split())
# Words next to a claim that make it approximate.
_APPROX_WORDS = frozenset("""approximately approx about around roughly nearly almost estimate estimated estimating
round rounded rounding rounds truncate truncated close""".split())
_OPERATOR_TOKENS = frozenset({"OP", "PCT", "FACT"})
_CLEAN_LEFT_CHARS = " \t\n\u00a0$&~"
_CLEAN_RIGHT_CHARS = " \t\n\u00a0$&~"


# Words that are never a unit: they carry arithmetic ("more", "each", "dozen") or grammar.
_NOT_UNITS = _LEFT_RISKY | _RIGHT_RISKY | _APPROX_WORDS | frozenset("""a an the and or is are was were be been equals
equal equaling gives give makes make made so then thus hence which that this these those to for in on at with as
total totals more less fewer extra another other left remain remains altogether together if when we he she they it
you i his her their its our your one two three four five six seven eight nine ten new old first second last next
cost costs pay pays paid earn earns earned get gets got has have had need needs spent spend spends""".split())
_UNIT_FOLLOWERS = frozenset({"EQ", "APPROX"})


def _is_unit_word(t: Token) -> bool:
    return t.kind == "WORD" and not t.label and len(t.words) <= 2 and not any(w in _NOT_UNITS for w in t.words)


def _label_end(toks: list[Token], k: int) -> int:
    """End (exclusive) of a parenthetical label starting at ``k`` ("(homework)", "\\text{ (Alani)}"), else ``k``."""
    if k < len(toks) and toks[k].kind == "WORD" and toks[k].label:
        return k + 1
    if k < len(toks) and toks[k].kind == "LP":
        j = k + 1
        while j < len(toks) and toks[j].kind == "WORD" and j - k <= 4:
            j += 1
        if j > k + 1 and j < len(toks) and toks[j].kind == "RP":
            return j + 1
    return k


def strip_units(toks: list[Token]) -> list[Token]:
    """Drop unit words and labels that sit between a number and the next operator or "=", remembering the unit on
    the number (sums of different units are not compared later)."""
    out: list[Token] = []
    k = 0
    n = len(toks)
    while k < n:
        t = toks[k]
        out.append(t)
        k += 1
        if t.kind != "NUM":
            continue
        j = k
        unit: list[str] = []
        while j < n and j - k < 3 and _is_unit_word(toks[j]):
            unit += toks[j].words
            j += 1
        if j + 1 < n and toks[j].kind == "OP" and toks[j].op == "/" and _is_unit_word(toks[j + 1]) \
                and not toks[j + 1].space_before:
            unit += ["/"] + toks[j + 1].words
            j += 2
        j = _label_end(toks, j)
        if j == k or j >= n:
            continue
        follower = toks[j]
        # before "=", only a number inside an expression ("2 bags + 4 bags = 6"); "400 degrees = 20 + 8" names a
        # quantity, it does not compute it
        in_expression = len(out) >= 2 and out[-2].kind == "OP"
        if (follower.kind in _UNIT_FOLLOWERS and in_expression) or (follower.kind == "OP" and follower.op in "+-*/"):
            t.unit = " ".join(w.rstrip("s") for w in unit) if unit else ""
            k = j
    return out


def mixed_units(run: list[Token]) -> bool:
    """A sum or difference whose numbers carry different units ("1 hour + 30 minutes")."""
    if not any(t.kind == "OP" and t.op in "+-" for t in run[1:]):
        return False
    nums = [t for t in run if t.kind == "NUM"]
    return any(t.unit for t in nums) and len({t.unit for t in nums}) > 1


def clean_left(text: str, toks: list[Token], before: int, run: list[Token]) -> bool:
    """Is the first expression of a chain cut cleanly on its left (not part of a longer expression)?"""
    prev = toks[before] if before >= 0 else None
    annotated = text[max(0, run[0].start - 2):run[0].start] == "<<"  # GSM8K calculator annotation <<2*9=18>>
    if prev is not None and prev.kind == "REL" and not annotated:
        return False  # part of a compound inequality: "90 < 123k < 180"
    if run[0].kind == "OP":
        # a leading sign touches its number and follows a delimiter: "5 apples - 3 = 2" (after a word) and
        # "- 3 + 4" (a list bullet) are not signs
        if len(run) < 2 or run[1].space_before:
            return False
        if prev is not None and not (prev.kind in ("DELIM", "BREAK") or (prev.kind == "PUNCT" and prev.text in ",;:")):
            return False
    p = run[0].start
    # step over one opening parenthesis that belongs to the sentence: "(so 3 + 4 = 7)"
    if p > 0 and text[p - 1] == "(" and (p == 1 or text[p - 2] in _CLEAN_LEFT_CHARS):
        p -= 1
    if p == 0:
        return True
    c = text[p - 1]
    if text[max(0, p - 2):p] in ("\\(", "\\[", "<<"):
        return True
    if c not in _CLEAN_LEFT_CHARS:
        return False
    j = before
    while j >= 0 and toks[j].kind == "DELIM":  # "$10\\%$ of $\\$1.50 = ...": the word before the math
        j -= 1
    if j < 0 or toks[j].kind != "WORD":
        return True
    if toks[j].words[-1] in _LEFT_RISKY:
        return False
    # a compound quantity: "1 hour and 20 minutes + 5 minutes"
    return not (toks[j].words[-1] == "and" and j >= 2 and toks[j - 1].kind == "WORD" and toks[j - 2].kind == "NUM")


def clean_right(text: str, toks: list[Token], after: int, run: list[Token]) -> bool:
    """Is the last expression of a chain complete (no unit multiplier or continuing expression after it)?"""
    if after < len(toks) and toks[after].kind == "REL" and text[run[-1].end:run[-1].end + 2] != ">>":
        return False  # part of a compound inequality: "a < b \\approx 0.73 < c"
    e = run[-1].end
    if e >= len(text):
        return True
    c = text[e]
    two = text[e:e + 2]
    if two in ("\\)", "\\]", ">>", "\\\\"):
        return True
    if c == ")":
        rest = text[e + 1:e + 2]
        return rest == "" or rest in _CLEAN_RIGHT_CHARS or rest in ".,;:"
    if c == "!":  # "10!" at the end of a sentence: factorial or exclamation, cannot tell
        return False
    if c in ".,;:":
        rest = text[e + 1:e + 2]
        return rest == "" or rest in _CLEAN_RIGHT_CHARS or rest in "\\)"
    if c not in _CLEAN_RIGHT_CHARS:
        return False
    # words after the value: a scale word, or words followed by an operator ("= 10 hours * 3"), spoil it
    j = after
    words: list[str] = []
    while j < len(toks) and toks[j].kind in ("WORD", "DELIM") and len(words) < 4:
        if toks[j].kind == "WORD":
            if not words and toks[j].words[0] in _RIGHT_RISKY:
                return False
            words += toks[j].words
        j += 1
    if words and j < len(toks) and toks[j].kind in _OPERATOR_TOKENS:
        return False
    if words and len(words) <= 3 and j < len(toks) and toks[j].kind == "NUM":
        return False  # a compound quantity: "= 1 hour and 25 minutes", "= 5 feet 3 inches"
    return True


def statement_label(toks: list[Token], before: int) -> tuple[tuple[str, ...], int] | None:
    """The words naming the quantity in ``Money lost = ...`` (the words right before the "="), and where they
    start in the text."""
    words: list[str] = []
    j = before
    while j >= 0 and toks[j].kind == "WORD" and not toks[j].label and len(words) < 4:
        words = toks[j].words + words
        j -= 1
    return (tuple(words), toks[j + 1].start) if words else None


def near_approx_word(toks: list[Token], before: int, after: int) -> bool:
    """An approximation word ("about", "rounded") within three tokens of the chain."""
    lo = max(0, before - 3)
    hi = min(len(toks), after + 3)
    return any(toks[j].kind == "WORD" and toks[j].words[0] in _APPROX_WORDS for j in range(lo, hi))


def near_doubt(toks: list[Token], before: int, after: int) -> bool:
    """A check, a hypothesis or a negation around the chain ("Check: 60 = 5^2 + 6^2 = 61. This does not work")."""
    lo = max(0, before - 20)
    hi = min(len(toks), after + 15)
    return any((toks[j].kind == "WORD" and any(w in _DOUBT_WORDS for w in toks[j].words))
               or toks[j].text in ("\\neq", "\\ne", "\u2260", "?") for j in range(lo, hi))


CONVERSION_FACTORS = frozenset(Fraction(k) for k in (100, 1000, 60, 3600, 12, 24, 7, 16, 1_000_000))




def last_digit_unit(literal: str) -> float:
    """``"300"`` -> 100, ``"14.99"`` -> 0.01, ``"0.5"`` -> 0.1: the place value of the last non-zero digit."""
    digits = literal.replace(",", "").replace("{,}", "")
    whole, _, frac = digits.partition(".")
    frac = frac.rstrip("0")
    if frac:
        return 10.0 ** -len(frac)
    stripped = whole.rstrip("0")
    return 10.0 ** (len(whole) - len(stripped)) if stripped else 1.0



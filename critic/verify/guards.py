"""Plain-text guards: what around a stated equality decides whether it is a claim we may check.

A step's words decide whether ``a = b`` is asserted arithmetic at all: units inside the expression, a word that
may belong to the expression ("half of 10 + 4"), a scale word after the value ("= 3 million"), rounding ("about"),
a hypothesis or negation that belongs to the claim ("if it were 5 + 3 = 9", "not 12 + 5 = 18"). Each guard here
says exactly which of these it looks for and where; a guard that fires makes the claim unknown, never wrong.
"""

from __future__ import annotations

from fractions import Fraction

from critic.verify.tokens import Token

# Relation signs that separate statements ("a = b \\implies c = d"), unlike the inequalities of "90 < 123k < 180".
IMPLICATIONS = frozenset({"\\Rightarrow", "\\implies", "\\Longrightarrow", "\u21d2", "\u27f9", "\\iff",
                          "\\Leftrightarrow", "\\therefore", "\u2234"})
# A word right before an expression that may belong to it ("twice 3 + 1", "17 mod 5 = 2").
_LEFT_RISKY = frozenset("""x times twice half double triple thrice per over mod modulo plus minus than divided
multiplied multiply divide into quarter quarters third thirds fourth fourths fifth fifths squared cubed sqrt root
log ln sin cos tan cot sec csc exp choose gcd lcm from add subtract remaining each every product quotient floor ceil
ceiling round rounded rounding average mean power least most""".split())
# "by" belongs to the expression after these ("divided by 4 + 2"); "increased by 10/100 * 20" leaves it alone.
_BY_OPERATIONS = frozenset("divided dividing divide divides multiplied multiplying multiply multiplies".split())
# "of" belongs to the expression only after a multiplier ("half of 10 + 4", "the average of 80 + 90"); "a total of
# 52 + 28", "the number of 3 + 4" leave the value alone.
_OF_MULTIPLIERS = frozenset("""half halves third thirds quarter quarters fourth fourths fifth fifths sixth sixths
seventh sevenths eighth eighths ninth ninths tenth tenths twice double triple thrice percent percentage fraction
fractions product quotient average mean square squares cube cubes root roots power powers multiple multiples factor
factors ratio times part parts portion portions share shares""".split())
# A word right after a stated value that scales it ("= 3 million", "= 2 mod 5", "= 5th").
_RIGHT_SCALE = frozenset("""m b percent percentage percentages squared cubed mod modulo remainder remainders th st nd rd
fold x""".split())
# "= 6 dozen", "= 3 million": the value is the number or the number scaled; a claim must fail under both readings.
SCALES = {"hundred": 100, "hundreds": 100, "thousand": 1000, "thousands": 1000, "k": 1000, "million": 10**6,
          "millions": 10**6, "billion": 10**9, "billions": 10**9, "bn": 10**9, "trillion": 10**12, "dozen": 12,
          "dozens": 12}
# After "= 15 times": these make 15 a multiplier of what follows ("15 times the price", "15 times as many").
_TIMES_OBJECT = frozenset("""the as that this his her its their our my your what those these more less bigger larger
smaller greater faster slower longer shorter older younger higher lower many much""".split())
# Negations and judgements: after the claim ("... = 61, which is not right", "y = 48 are not roots", "This does not
# work") or anywhere in its clause before it ("not 12 + 5 = 18").
_NEGATIONS = frozenset("""not isn aren doesn didn wasn weren cannot never no wouldn shouldn couldn hasn haven hadn nor
neither""".split())
_JUDGEMENTS = frozenset("""false incorrect wrong wrongly contradiction contradicts contradictory impossible invalid
mistake mistaken error oops wait fails fail failed""".split())
# Hypotheses and checks right before the claim ("if it were 5 + 3 = 9", "Check: 2(3) + 1 = 8").
_HYPOTHETICALS = frozenset("""if suppose supposing assume assuming guess try trying test testing check checking verify
verifying instead mistakenly incorrectly wrongly substituting substitute plugging plug whether wait oops""".split())
# First word after a claim that makes the claim the subject of what follows ("... = 8 is not right"); a noun
# there ("= 63 apps after ... he didn't use") makes the value the subject instead.
_SUBJECT_LINKS = frozenset("""is are was were be which that this it does do did doesn don didn isn aren wasn weren can
cannot could would should seems seem appears appear gives give yields contradicts so but however hence thus not no
never and or""".split()) | _JUDGEMENTS
# First word of a following sentence that refers back to the claim ("This does not work").
_REFERS_BACK = frozenset("this that it which so but however wait no oops these those here hmm".split())
_BEFORE_WORDS = 3  # words scanned back from the claim (within its clause)
# Words announcing that an equation rewrites an expression ("expanding, we get ...").
_REWRITE_WORDS = frozenset("""expand expanding expanded factoring factored factorising factorizing simplify
simplifying simplified distributing distributed foil""".split())
_AFTER_WORDS = 4  # words scanned after the claim
# Words anywhere in a step that say its numbers are rounded.
ROUNDING_WORDS = frozenset("""approximately approx roughly estimate estimated round rounded rounding rounds truncate
truncated""".split())
# Words next to a claim that make it approximate.
_APPROX_WORDS = frozenset("""approximately approx about around roughly nearly almost estimate estimated estimating
round rounded rounding rounds truncate truncated close""".split())
_OPERATOR_TOKENS = frozenset({"OP", "PCT", "FACT"})
_SIZING = ("\\left", "\\bigl", "\\Bigl", "\\biggl", "\\Biggl", "\\big", "\\Big", "\\bigg", "\\Bigg")
_CLEAN_LEFT_CHARS = " \t\n\u00a0$&~:"
_CLEAN_RIGHT_CHARS = " \t\n\u00a0$&~"
# Units that convert into each other: a sum of two of them ("1 hour + 30 minutes") is a unit conversion in
# disguise. Counted things ("96 students - 43 girls") are not.
_MEASURES = frozenset("""second seconds sec secs minute minutes min mins hour hours hr hrs day days week weeks month
months year years inch inches foot feet ft yard yards mile miles mm cm m km meter meters metre metres kilometer
kilometers centimeter centimeters millimeter millimeters gram grams g kg kilogram kilograms pound pounds lb lbs ounce
ounces oz ton tons cup cups pint pints quart quarts gallon gallons liter liters litre litres ml milliliter
milliliters dollar dollars cent cents penny pennies nickel nickels dime dimes quarter quarters""".split())


# Words that are never a unit: they carry arithmetic ("more", "each", "dozen") or grammar.
_NOT_UNITS = _LEFT_RISKY | _RIGHT_SCALE | set(SCALES) | _APPROX_WORDS | frozenset("""of times per by a an the and or is
are was were be been equals equal equaling gives give makes make made so then thus hence which that this these those
to for in on at with as total totals more less fewer extra another other left remain remains altogether together if
when we he she they it you i his her their its our your one two three four five six seven eight nine ten new old
first second last next cost costs pay pays paid earn earns earned get gets got has have had need needs spent spend
spends""".split())
_UNIT_FOLLOWERS = frozenset({"EQ", "APPROX"})
# Words after a value that do not name what it counts ("= 1 \\] So the ...", "= 1 and ...").
_NOT_COUNTED = frozenset("""so and or but then thus hence therefore since because which that this is are was we the a
an it as in for to of at by with from when where if""".split())


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
        while j < n and j - k < 5 and (_is_unit_word(toks[j]) or (
                # "90 pieces of straw / 3 cages", "25 miles per gallon x 12": "of" / "per" inside a unit phrase
                toks[j].kind == "WORD" and toks[j].words in (["of"], ["per"]) and j + 1 < n
                and _is_unit_word(toks[j + 1]) and (j > k or toks[j].words == ["per"]))):
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


def unit_changes(lrun: list[Token], rrun: list[Token]) -> bool:
    """Numbers with a unit on one side, an expression of bare numbers on the other: "1 pack of red + 2 packs of
    clear = 20 + 20 + 20" converts packs to beads; it does not compute."""
    for bare, other in ((rrun, lrun), (lrun, rrun)):
        bare_nums = [t for t in bare if t.kind == "NUM"]
        if len(bare_nums) >= 2 and all(not t.unit for t in bare_nums) and any(
                t.kind == "NUM" and t.unit for t in other):
            return True
    return False


def pure_percentage(run: list[Token]) -> bool:
    """Every number of the expression is a percentage ("100% + 20%")."""
    nums = [k for k, t in enumerate(run) if t.kind == "NUM"]
    return bool(nums) and all(k + 1 < len(run) and run[k + 1].kind == "PCT" for k in nums)


def mixed_units(run: list[Token]) -> bool:
    """A sum or difference whose numbers carry different units of which one is a measure ("1 hour + 30 minutes",
    "$2 + 50 cents"): a conversion the text leaves implicit. Counted things ("96 students - 43 girls") mix freely."""
    if not any(t.kind == "OP" and t.op in "+-" for t in run[1:]):
        return False
    units = {t.unit for t in run if t.kind == "NUM"}
    return len(units) > 1 and any(w in _MEASURES for u in units for w in u.split())


def clean_left(text: str, toks: list[Token], before: int, run: list[Token]) -> bool:
    """Is the first expression of a chain cut cleanly on its left (not part of a longer expression)?"""
    prev = toks[before] if before >= 0 else None
    annotated = text[max(0, run[0].start - 2):run[0].start] == "<<"  # GSM8K calculator annotation <<2*9=18>>
    if prev is not None and prev.kind == "REL" and prev.text not in IMPLICATIONS and not annotated:
        return False  # part of a compound inequality: "90 < 123k < 180"
    if run[0].kind == "OP":
        # a leading sign touches its number and follows a delimiter: "5 apples - 3 = 2" (after a word) and
        # "- 3 + 4" (a list bullet) are not signs
        if len(run) < 2 or run[1].space_before:
            return False
        if prev is not None and not (prev.kind in ("DELIM", "BREAK") or (prev.kind == "PUNCT" and prev.text in ",;:")):
            return False
    p = run[0].start
    for sizing in _SIZING:  # "\\left\\lfloor": the sizing command is part of the delimiter
        if text.endswith(sizing, 0, p):
            p -= len(sizing)
            break
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
    k = j
    while k >= 0 and toks[k].kind == "WORD" and j - k < 3:
        k -= 1
    if k >= 0 and toks[k].kind == "OP" and toks[k].op in "+-*/":
        return False  # "25 classmates + his 1 teacher + 1 himself = 27": the expression began before the words
    last = toks[j].words[-1]
    if last in _LEFT_RISKY:
        return False
    if last == "by":
        before_by = toks[j].words[-2] if len(toks[j].words) > 1 else (
            toks[j - 1].words[-1] if j >= 1 and toks[j - 1].kind == "WORD" else None)
        if before_by in _BY_OPERATIONS:
            return False
    if last == "of":
        # "half of 10 + 4", "2 of 3 + 4": the multiplier before "of" belongs to the expression
        before_of = toks[j].words[-2] if len(toks[j].words) > 1 else None
        if before_of is None and j >= 1:
            p2 = toks[j - 1]
            if p2.kind in ("NUM", "PCT", "RP", "RB") or p2.kind == "DELIM":
                return False
            before_of = p2.words[-1] if p2.kind == "WORD" else None
        if before_of in _OF_MULTIPLIERS:
            return False
    # a compound quantity: "1 hour and 20 minutes + 5 minutes"
    return not (toks[j].words[-1] == "and" and j >= 2 and toks[j - 1].kind == "WORD" and toks[j - 2].kind == "NUM")


def clean_right(text: str, toks: list[Token], after: int, run: list[Token]) -> bool:
    """Is the last expression of a chain complete (no unit multiplier or continuing expression after it)?"""
    if after < len(toks) and toks[after].kind == "REL" and toks[after].text not in IMPLICATIONS \
            and text[run[-1].end:run[-1].end + 2] != ">>":
        return False  # part of a compound inequality: "a < b \\approx 0.73 < c"
    e = run[-1].end
    if e >= len(text):
        return True
    c = text[e]
    two = text[e:e + 2]
    if two in (">>", "\\\\"):
        return True
    if two in ("\\)", "\\]"):
        pass  # the math ends here; the words after it still count ("\\(770 \\div 333 = 2\\) with a remainder")
    elif c == ")":
        rest = text[e + 1:e + 2]
        if not (rest == "" or rest in _CLEAN_RIGHT_CHARS or rest in ".,;:"):
            return False
    elif c == "!":  # "10!" at the end of a sentence: factorial or exclamation, cannot tell
        return False
    elif c in ".,;:":
        # "= 0.\\overline{6}" continues the number; "= 7." and "= 7.\\)" end it
        if not (text[e + 1:e + 2] in ("", *_CLEAN_RIGHT_CHARS) or text[e + 1:e + 3] in ("\\)", "\\]")):
            return False
    elif c not in _CLEAN_RIGHT_CHARS:
        return False
    # words after the value: a scale word, or words followed by an operator ("= 10 hours * 3"), spoil it
    j = after
    words: list[str] = []
    while j < len(toks) and toks[j].kind in ("WORD", "DELIM") and len(words) < 4:
        if toks[j].kind == "WORD":
            if not words and not _right_word_keeps_value(toks, j, run):
                return False
            words += toks[j].words
        j += 1
    if words and j < len(toks) and toks[j].kind in _OPERATOR_TOKENS:
        return False
    if any(w in ("remainder", "remainders", "quotient", "r") for w in words):
        return False  # "770 \\div 333 = 2 with a remainder of 58": integer division
    # not a compound quantity: "= 1 hour and 25 minutes", "= 5 feet 3 inches"
    return not (words and len(words) <= 3 and j < len(toks) and toks[j].kind == "NUM"
                and all(w == "and" or w in _MEASURES for w in words))


def _right_word_keeps_value(toks: list[Token], j: int, run: list[Token]) -> bool:
    """The first word after a stated value: does the value stand as written? Not after a scale ("= 3 million"),
    "times" making it a multiplier ("= 15 times the price"; "rang 15 times." is a count), "per" with a number
    ("= 60 per 2 hours"), or "of" after a fraction ("= 0.5 of the total"; "= 12 of them" is a count)."""
    w = toks[j].words[0]
    nxt = toks[j + 1] if j + 1 < len(toks) else None
    if w in _RIGHT_SCALE:
        return False
    if w == "times":
        return nxt is None or not (nxt.kind in ("NUM", "LP", "OP", "FRAC", "SQRT", "PI")
                                   or nxt.kind == "WORD" and nxt.words[0] in _TIMES_OBJECT)
    if w == "per":
        return nxt is None or nxt.kind != "NUM"
    if w == "of":
        lit = [t for t in run if t.kind == "NUM"]
        return len(run) == 1 and len(lit) == 1 and lit[0].decimals == 0
    return True


def rewrite_announced(toks: list[Token], before: int) -> bool:
    """"Expanding, we get (x+1)(x^2-x+1) = x^3 - 1": a word right before the equation (three words, same
    sentence) says it rewrites an expression rather than states a condition."""
    j = before
    seen = 0
    while j >= 0 and seen < _BEFORE_WORDS:
        t = toks[j]
        if t.kind == "PUNCT" and t.text == ",":
            # "Expanding, we get": the word right before the comma; "combining like factors, we have": no
            k = j - 1
            while k >= 0 and toks[k].kind == "DELIM":
                k -= 1
            return k >= 0 and toks[k].kind == "WORD" and toks[k].words[-1] in _REWRITE_WORDS
        if t.kind == "PUNCT" and t.text in ".;!?" or t.kind == "BREAK" and j and toks[j - 1].kind == "BREAK":
            return False
        if t.kind == "WORD":
            seen += len(t.words)
            if any(w in _REWRITE_WORDS for w in t.words):
                return True
        j -= 1
    return False


def scale_after(toks: list[Token], after: int) -> int | None:
    """The factor of a scale word right after a stated value ("= 6 dozen" -> 12), else None."""
    j = after
    while j < len(toks) and toks[j].kind == "DELIM":
        j += 1
    if j < len(toks) and toks[j].kind == "WORD":
        return SCALES.get(toks[j].words[0])
    return None


def counted_after(toks: list[Token], after: int) -> bool:
    """A word right after the stated value: a count or an amount of something ("= 3 boxes", "$= 500$ more")."""
    j = after
    while j < len(toks) and toks[j].kind == "DELIM":
        j += 1
    return j < len(toks) and toks[j].kind == "WORD" and toks[j].words[0] not in _NOT_COUNTED


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


def doubted(toks: list[Token], before: int, after: int) -> bool:
    """Does a negation, judgement, hypothesis or check belong to the chain between ``before`` and ``after``?

    Before it: a negation, hypothesis or check within three words of its clause ("not 12 + 5 = 18", "if it were
    5 + 3 = 9", "Check: 2(3) + 1 = 8"; the clause starts after . ; , ! ? or a line break, and for negations after a
    colon: "kicked out for not wearing masks: 4 * 3 = 12" is about the masks). After it: a
    question mark or "≠" in the same sentence; a negation or judgement within four words when the claim is the
    subject ("... = 61, which is not right", "y = 8, y = 24 and y = 48 are not roots") or when the next sentence
    refers back to it ("= 61. This does not work"). A negation elsewhere in the sentence - "Travis had 61 - 9 = 63
    apps after deleting the ones he didn't use" - is about something else."""
    return _doubt_before(toks, before) or _doubt_after(toks, after)


def _doubt_before(toks: list[Token], before: int) -> bool:
    words: list[tuple[str, bool]] = []  # (word, before a colon), nearest first
    colon = False
    j = before
    while j >= 0 and len(words) < _BEFORE_WORDS:
        t = toks[j]
        if t.kind == "PUNCT" and t.text in ".;,!?":
            break
        if t.kind == "PUNCT" and t.text == ":":
            colon = True
        if t.kind == "BREAK":
            k = j - 1
            while k >= 0 and toks[k].kind in ("BREAK", "DELIM"):
                k -= 1
            if k < 0 or toks[k].text != ":":  # "Check:\n 5 + 3 = 8" keeps its heading
                break
        if t.kind == "WORD":
            negated = _negated_contraction(toks, j)
            words.extend((w, colon) for w in reversed(t.words))
            if negated:
                words[-1] = ("not", colon)
        j -= 1
    return any(w in _HYPOTHETICALS or (w in _NEGATIONS and not after_colon) for w, after_colon in words)


def _negated_contraction(toks: list[Token], j: int) -> bool:
    """``don't``, ``won't``, ``can't``: a word, an apostrophe, then ``t``."""
    return (j + 2 < len(toks) and toks[j + 1].kind == "PUNCT" and toks[j + 1].text in "'\u2019"
            and toks[j + 2].kind == "WORD" and toks[j + 2].words == ["t"])


def _doubt_after(toks: list[Token], after: int) -> bool:
    words: list[str] = []
    crossed = False
    j = after
    n = len(toks)
    while j < n and len(words) < _AFTER_WORDS:
        t = toks[j]
        if t.kind == "PUNCT" and t.text == "?" or t.text in ("\\neq", "\\ne", "\u2260"):
            if not crossed:
                return True
        elif t.kind == "PUNCT" and t.text in ".;!" or t.kind == "BREAK" and j + 1 < n and toks[j + 1].kind == "BREAK":
            if crossed or words:
                break
            crossed = True
        elif t.kind == "WORD":
            if not words:
                first = t.words[0]
                if crossed and first not in _REFERS_BACK or not crossed and first not in _SUBJECT_LINKS:
                    return False
            words.extend(["not"] if _negated_contraction(toks, j) else t.words)
        j += 1
    return any(w in _NEGATIONS or w in _JUDGEMENTS for w in words[:_AFTER_WORDS])


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



"""Trace viewer: a solve/refine output -> one static, self-contained HTML page (inline CSS, no scripts, no links
out).

Input: one ``SolveResult`` JSON object (``deepcritic solve --json``), one critique round (``deepcritic critique
--json``), a JSON list of them, or a JSONL file of ``refine_batch`` rows (``SolveResult`` fields plus ``id``,
``gold``, ``initial_correct`` / ``final_correct``; error rows show their error).

Per round, each step is a row coloured by the critic's verdict (green correct, red wrong, grey not judged - the
critique stops at the first wrong step), with that step's critique text beside it and the SymPy check and evidence
after it. Refined rounds mark the steps kept from the previous round and list the ones they replaced. Every piece of
text from the file is escaped (``html.escape``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from critic.io import atomic_write_text, iter_jsonl

# Verdict colours; the screenshot test looks for them.
COLOURS = {
    "correct": "#d4edda",
    "wrong": "#f8d7da",
    "unjudged": "#eeeeee",
    "sympy-wrong": "#dc3545",
    "kept": "#6c757d",
}

CSS = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem; color: #212529;
       background: #ffffff; font-size: 14px; }}
h1 {{ font-size: 1.4rem; margin: 0 0 .8rem; }}
h2 {{ font-size: 1.15rem; margin: 0 0 .5rem; }}
nav ol {{ columns: 3; font-size: .85rem; }}
section.result {{ border: 1px solid #ced4da; border-radius: 6px; padding: 1rem; margin: 0 0 1.5rem; }}
.problem, .text {{ white-space: pre-wrap; overflow-wrap: anywhere; }}
.problem {{ background: #f8f9fa; padding: .6rem; border-radius: 4px; }}
.badges span {{ display: inline-block; margin: .2rem .3rem .2rem 0; padding: .1rem .45rem; border-radius: 3px;
               background: #e9ecef; font-size: .8rem; }}
.badges .good {{ background: {COLOURS["correct"]}; }}
.badges .bad {{ background: {COLOURS["wrong"]}; }}
details.round {{ margin: .8rem 0; }}
details.round > summary {{ font-weight: 600; cursor: pointer; }}
table.steps {{ border-collapse: collapse; width: 100%; margin: .4rem 0; table-layout: fixed; }}
table.steps th, table.steps td {{ border: 1px solid #dee2e6; padding: .35rem .5rem; vertical-align: top;
                                  text-align: left; }}
table.steps th {{ background: #f1f3f5; }}
col.num {{ width: 5.5rem; }} col.step {{ width: 42%; }} col.sympy {{ width: 22%; }}
tr.correct td.step {{ background: {COLOURS["correct"]}; }}
tr.wrong td.step {{ background: {COLOURS["wrong"]}; }}
tr.unjudged td.step {{ background: {COLOURS["unjudged"]}; }}
tr.sympy-wrong td.sympy {{ border-left: 4px solid {COLOURS["sympy-wrong"]}; }}
tr.first-wrong td.num {{ font-weight: 700; color: #b02a37; }}
.tag {{ display: inline-block; font-size: .7rem; padding: 0 .3rem; border-radius: 3px; color: #fff;
       background: {COLOURS["kept"]}; margin-left: .2rem; }}
.tag.new {{ background: #0d6efd; }}
.critique {{ font-size: .85rem; }}
.evidence {{ font-family: ui-monospace, monospace; font-size: .8rem; margin: .15rem 0; }}
.evidence.bad {{ color: #b02a37; font-weight: 600; }}
.evidence.ok {{ color: #146c43; }}
.outcome {{ margin: .4rem 0; }}
.feedback, .replaced {{ background: #fff3cd; padding: .5rem; border-radius: 4px; margin: .4rem 0; }}
.replaced .text {{ text-decoration: line-through; color: #6c757d; }}
.error {{ background: {COLOURS["wrong"]}; padding: .6rem; border-radius: 4px; }}
.legend span {{ display: inline-block; padding: .1rem .5rem; margin-right: .4rem; border-radius: 3px; }}
"""


class ViewError(ValueError):
    """The file is not a solve/refine output."""


def load_results(path: str | Path) -> list[dict]:
    """Results from a JSON object / list or a JSONL file; each result is a dict (SolveResult, refine row, round)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        rows = [data]
    elif isinstance(data, list):
        rows = data
    else:
        try:
            rows = [row for _, row in iter_jsonl(path)]
        except ValueError as e:
            raise ViewError(str(e)) from e
    results = [normalise(row) for row in rows if isinstance(row, dict)]
    if not results:
        raise ViewError(f"{path}: no solve/refine results found")
    return results


def normalise(row: Mapping) -> dict:
    """A single critique round (``critique --json``) becomes a one-round result; other rows pass through."""
    if "trace" not in row and "critique" in row and "steps" in row and "round" in row:
        return {"problem": row.get("problem", ""), "steps": row["steps"], "trace": [dict(row)],
                "rounds": 1, "stop_reason": None}
    if "trace" not in row and not row.get("error"):  # an error row has no trace; any other row must have one
        hint = "; eval predictions are summarised by `deepcritic eval report RUN`" if "pred_label0" in row else ""
        raise ViewError(f"not a solve/refine result (fields: {', '.join(sorted(row)[:8])}){hint}")
    return dict(row)


def _badge(text: str, kind: str = "") -> str:
    cls = f' class="{kind}"' if kind else ""
    return f"<span{cls}>{escape(text)}</span>"


def _summary_badges(result: Mapping) -> str:
    badges = []
    if "accepted" in result:
        badges.append(_badge("accepted" if result["accepted"] else "not accepted",
                             "good" if result["accepted"] else "bad"))
    if result.get("stop_reason"):
        badges.append(_badge(f"stopped: {result['stop_reason']}"))
    if result.get("rounds") is not None:
        badges.append(_badge(f"rounds: {result['rounds']}"))
    if result.get("tokens") is not None:
        badges.append(_badge(f"tokens: {result['tokens']} (generator {result.get('generator_tokens', 0)}, "
                             f"critic {result.get('critic_tokens', 0)})"))
    if "answer" in result:
        badges.append(_badge(f"answer: {result['answer'] if result['answer'] is not None else '(none)'}"))
    if result.get("gold") is not None:
        badges.append(_badge(f"gold: {result['gold']}"))
    for key, label in (("initial_correct", "before"), ("final_correct", "after")):
        if result.get(key) is not None:
            badges.append(_badge(f"{label}: {'right' if result[key] else 'wrong'}", "good" if result[key] else "bad"))
    for key in ("generator", "critic", "sympy"):
        if result.get(key):
            badges.append(_badge(f"{key}: {result[key]}"))
    return f'<div class="badges">{"".join(badges)}</div>'


def _step_class(step1: int, verdicts: Mapping[int, str]) -> str:
    return {"correct": "correct", "wrong": "wrong"}.get(verdicts.get(step1, ""), "unjudged")


def _sympy_cell(check: Mapping | None) -> str:
    if not check:
        return '<span class="muted">-</span>'
    parts = [escape({"ok": "SymPy: ok", "wrong": "SymPy: WRONG", "unchecked": "SymPy: unchecked"}.get(
        check.get("verdict", ""), f"SymPy: {check.get('verdict')}"))]
    for ev in check.get("evidence", []):
        ok = ev.get("ok")
        detail = f"{ev.get('claim', '')}"
        if not ok:
            detail += f" - left side is {ev.get('expected', '?')}"
            if ev.get("stated") is not None:
                detail += f", step states {ev['stated']}"
        parts.append(f'<div class="evidence {"ok" if ok else "bad"}">{"✓" if ok else "✗"} {escape(detail)}</div>')
    return "".join(parts)


def _critique_outcome(entry: Mapping) -> str:
    crit = entry.get("critique") or {}
    status = crit.get("status")
    critic_step = crit.get("first_wrong_step1")
    if status != "ok":
        said = f"critique {status}: no final answer could be read"
    elif critic_step == -1:
        said = "critic: every step correct"
    else:
        said = f"critic: first wrong step {critic_step}"
    combined = ""
    if entry.get("flagged_by"):
        combined = (f"; first wrong step after SymPy: {entry.get('first_wrong_step1')} "
                    f"(flagged by {entry['flagged_by']})")
    refine = ""
    if entry.get("refine_from_step1") is not None:
        refine = f"; next round regenerates from step {entry['refine_from_step1']}"
    return f'<div class="outcome">{escape(said + combined + refine)}</div>'


def render_round(entry: Mapping, previous: Mapping | None) -> str:
    """HTML of one round of the loop: its steps coloured by verdict and tagged kept / new, the critique, and for a
    refined round the steps of ``previous`` (the round before) it replaced."""
    steps: Sequence[str] = entry.get("steps", [])
    crit = entry.get("critique") or {}
    verdicts = {v["step1"]: v["verdict"] for v in crit.get("verdicts", [])}
    texts = {v["step1"]: v.get("text", "") for v in crit.get("verdicts", [])}
    checks = {c["step1"]: c for c in entry.get("checks", [])}
    kept = int(entry.get("kept_steps") or 0)
    refined = entry.get("origin") == "refined"
    first = entry.get("first_wrong_step1")

    origin = {"generated": "generated", "given": "given solution",
              "refined": f"refined: kept step{f's 1-{kept}' if kept > 1 else ' 1'}, regenerated from step {kept + 1}"
              if kept
              else "refined: regenerated from step 1"}.get(entry.get("origin"), str(entry.get("origin") or ""))
    tokens = f"generator {entry.get('generator_tokens', 0)} / critic {entry.get('critic_tokens', 0)} tokens"
    rows = []
    for i, step in enumerate(steps, 1):
        classes = [_step_class(i, verdicts)]
        if checks.get(i, {}).get("verdict") == "wrong":
            classes.append("sympy-wrong")
        if first == i:
            classes.append("first-wrong")
        tag = ""
        if refined:
            tag = '<span class="tag">kept</span>' if i <= kept else '<span class="tag new">new</span>'
        verdict = verdicts.get(i)
        verdict_label = {"correct": "✓ correct", "wrong": "✗ wrong"}.get(verdict or "", "not judged")
        rows.append(
            f'<tr class="{" ".join(classes)}"><td class="num">Step {i}{tag}</td>'
            f'<td class="step text">{escape(step)}</td>'
            f'<td class="critique"><b>{escape(verdict_label)}</b>'
            f'<div class="text">{escape(texts.get(i, ""))}</div></td>'
            f'<td class="sympy">{_sympy_cell(checks.get(i))}</td></tr>'
        )
    replaced = ""
    if refined and previous is not None:
        old = list(previous.get("steps", []))[kept:]
        if old:
            items = "".join(f'<li value="{kept + j}"><span class="text">{escape(s)}</span></li>'
                            for j, s in enumerate(old, 1))
            replaced = f'<div class="replaced"><b>Replaced steps of round {escape(str(previous.get("round")))}:</b>' \
                       f"<ol>{items}</ol></div>"
    feedback = ""
    if entry.get("feedback"):
        feedback = f'<div class="feedback"><b>Feedback to the generator:</b><div class="text">' \
                   f'{escape(entry["feedback"])}</div></div>'
    raw = crit.get("raw") or ""
    raw_block = f'<details><summary>raw critique</summary><div class="text critique">{escape(raw)}</div></details>' \
        if raw else ""
    return (
        f'<details class="round" open><summary>Round {escape(str(entry.get("round", "?")))} - {escape(origin)} '
        f'({escape(tokens)})</summary>{replaced}'
        '<table class="steps"><colgroup><col class="num"><col class="step"><col class="crit"><col class="sympy">'
        "</colgroup><thead><tr><th>#</th><th>step</th><th>critique</th><th>SymPy</th></tr></thead><tbody>"
        f'{"".join(rows)}</tbody></table>{_critique_outcome(entry)}{feedback}{raw_block}</details>'
    )


def render_result(result: Mapping, index: int) -> str:
    """HTML of one solve/refine result (``index`` 1-based: its number and its anchor ``#r<index>``): header, problem,
    summary badges and every round (an error row: the error only)."""
    title = f"{index}. {result['id']}" if result.get("id") is not None else f"{index}."
    head = f'<section class="result" id="r{index}"><h2>{escape(title)}</h2>'
    if result.get("error"):
        return f'{head}<div class="error">error: {escape(str(result["error"]))}</div></section>'
    trace = result.get("trace") or []
    rounds = "".join(render_round(entry, trace[i - 1] if i else None) for i, entry in enumerate(trace))
    return (f'{head}<div class="problem">{escape(str(result.get("problem", "")))}</div>'
            f"{_summary_badges(result)}{rounds}</section>")


def _nav(results: Sequence[Mapping]) -> str:
    if len(results) < 2:
        return ""
    items = []
    for i, r in enumerate(results, 1):
        mark = "error" if r.get("error") else ("accepted" if r.get("accepted") else "not accepted")
        if r.get("final_correct") is not None:
            mark += ", right" if r["final_correct"] else ", wrong"
        items.append(f'<li><a href="#r{i}">{escape(str(r.get("id", i)))}</a> ({escape(mark)})</li>')
    return f"<nav><ol>{''.join(items)}</ol></nav>"


def render_html(results: Sequence[Mapping], title: str = "deepcritic trace") -> str:
    """One self-contained HTML page (inline CSS, no scripts) of ``results``, with a navigation list when there are
    several."""
    legend = ('<div class="legend">'
              f'<span style="background:{COLOURS["correct"]}">critic: correct</span>'
              f'<span style="background:{COLOURS["wrong"]}">critic: wrong</span>'
              f'<span style="background:{COLOURS["unjudged"]}">not judged</span>'
              f'<span style="border-left:4px solid {COLOURS["sympy-wrong"]}">SymPy contradiction</span></div>')
    body = "".join(render_result(r, i) for i, r in enumerate(results, 1))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{escape(title)}</h1>{legend}{_nav(results)}{body}</body></html>\n")


def write_view(path: str | Path, out: str | Path | None = None) -> Path:
    """Render ``path`` to ``out`` (default: the same name with ``.html``); returns the written path."""
    path = Path(path)
    out = Path(out) if out is not None else path.with_suffix(".html")
    results = load_results(path)
    atomic_write_text(out, render_html(results, title=f"deepcritic trace: {path.name}"))
    return out

"""Verified majority voting (test-time scaling): N generator samples per problem; plain majority over their final
answers vs majority over the samples the critic accepts; accuracy as a function of N (1, 2, 4, ..., N, every point
from the first samples of the same N).

A sample is *accepted* when the critic's critique (greedy, deliberate prompt) reads and finds no wrong step, and -
with ``sympy="veto"`` - SymPy finds no definite contradiction in it. When none of a problem's first n samples is
accepted, verified voting falls back to the plain majority (reported as ``fallback``). Answers vote by equivalence
(:func:`critic.grading.answers_match`); samples without an answer do not vote; ties go to the answer seen first.

Files: ``samples.jsonl`` (one row per problem with every sample, resumable), ``metrics.json`` (``{data: {n, majority,
verified, fallback, oracle}}``), ``report.md``, ``accuracy_vs_n.png``, ``config.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from critic.configs import StrictConfig
from critic.data import JsonlWriter, load_dataset_by_name
from critic.engines.base import ChatEngine, Sampling
from critic.parse import parse_critique
from critic.prompts import SOLVE_PREFIX, CriticPrompt, solve_messages
from critic.records import NO_ERROR, Problem, first_sympy_finding
from critic.steps import StepTagging, split_steps
from eval import rundir
from eval.metrics import accuracy_vs_n, cluster_answers, powers_of_two_up_to
from eval.report import write_tts_report

SAMPLES = "samples.jsonl"


class TtsConfig(StrictConfig):
    """Everything that decides a verified-voting run's results (written to ``config.json``)."""

    kind: Literal["tts"] = "tts"
    generator: str = "embedded"
    critic: str = "embedded"
    data: list[str] = Field(default_factory=lambda: ["gsm8k-test"])
    n: int = Field(8, ge=1, description="samples per problem")
    temperature: float = Field(0.7, gt=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(1024, ge=1)
    critic_max_tokens: int = Field(2048, ge=1)
    prompt_template: str | None = Field(None, description="critic template file ({problem}, {tagged_response})")
    system_prompt: str | None = Field(None, description="critic system message; 'none' = none; None = ours")
    step_tagging: StepTagging = "startswith"
    sympy: Literal["off", "veto"] = "off"
    limit: int | None = Field(None, ge=1)
    seed: int | None = 0
    batch_size: int = Field(8, ge=1, description="problems per engine call (x n chats); does not change results")
    name: str | None = None


    def critic_prompt(self) -> CriticPrompt:
        """The critic's prompt (deliberate style; loads and checks the template)."""
        return CriticPrompt.from_settings("deliberate", self.prompt_template, self.system_prompt, self.step_tagging)


RESUMABLE_KEYS = ("batch_size", "name")


def _problems(config: TtsConfig) -> list[tuple[str, str, Problem]]:
    out, seen = [], set()
    for name in config.data:
        for p in load_dataset_by_name(name, limit=config.limit, seed=config.seed):
            if not isinstance(p, Problem) or not p.answer:
                raise ValueError(f"{name} is not a problem set with gold answers (GSM8K / MATH format)")
            label = rundir.data_label(name)
            key = f"{label}/{p.id}"
            if key not in seen:
                seen.add(key)
                out.append((key, label, p))
    return out


def _sample_rows(config: TtsConfig, chunk: list[tuple[str, str, Problem]], generator: ChatEngine,
                 critic: ChatEngine, prompt: CriticPrompt | None = None) -> list[dict]:
    """Generate n samples per problem, critique each, and return one row per problem."""
    from agent.solve import final_answer
    from critic.grading import answers_match

    sampling = Sampling(n=config.n, temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens,
                        seed=config.seed)
    generations = generator.generate([solve_messages(p.problem) for _, _, p in chunk], sampling)
    samples = []  # (problem index, steps, generation)
    for i, gens in enumerate(generations):
        for g in gens:
            samples.append((i, split_steps(SOLVE_PREFIX + str(g)), g))
    critic_sampling = Sampling(temperature=0.0, max_tokens=config.critic_max_tokens, seed=config.seed)
    with_steps = [s for s in samples if s[1]]
    build = (prompt or config.critic_prompt()).messages
    critiques = critic.generate([build(chunk[i][2].problem, steps) for i, steps, _ in with_steps],
                                critic_sampling) if with_steps else []
    by_sample = {id(s): c[0] for s, c in zip(with_steps, critiques, strict=True)}

    rows = [{"key": key, "id": p.id, "data": name, "problem": p.problem, "gold": p.answer, "samples": []}
            for key, name, p in chunk]
    for sample in samples:
        i, steps, gen = sample
        answer = final_answer(steps)
        entry = {
            "steps": steps,
            "answer": answer,
            "correct": answer is not None and answers_match(answer, chunk[i][2].answer),
            "tokens": getattr(gen, "num_tokens", 0),
            "critic_status": "unparsed",
            "first_wrong_step1": None,
            "sympy_step1": None,
            "critic_tokens": 0,
        }
        critique_gen = by_sample.get(id(sample))
        if critique_gen is not None:
            critique = parse_critique(str(critique_gen), len(steps), getattr(critique_gen, "finish_reason", "stop"))
            entry |= {"critic_status": critique.status, "first_wrong_step1": critique.first_wrong_step1,
                      "critic_tokens": getattr(critique_gen, "num_tokens", 0)}
            accepted = critique.accepts
            if config.sympy == "veto" and accepted:
                from critic.sympy_tool import check_steps

                first = first_sympy_finding(check_steps(chunk[i][2].problem, steps))
                entry["sympy_step1"] = first
                accepted = first == NO_ERROR
        else:
            accepted = False  # an empty solution is never accepted
        entry["accepted"] = accepted
        rows[i]["samples"].append(entry)
    return rows


def vote_inputs(row: dict) -> dict:
    """The per-problem lists :func:`eval.metrics.accuracy_vs_n` votes over."""
    from critic.grading import answers_match

    samples = row["samples"]
    return {
        "clusters": cluster_answers([s["answer"] for s in samples], answers_match),
        "correct": [s["correct"] for s in samples],
        "accepted": [s["accepted"] for s in samples],
    }


def run_tts(config: TtsConfig, out_dir: str | Path, generator: ChatEngine | None = None,
            critic: ChatEngine | None = None, progress: bool = True) -> dict:
    """Run (or resume) verified majority voting into ``out_dir``; returns ``{data: curve}``."""
    from tqdm import tqdm

    from agent.solve import resolve_engine

    prompt = config.critic_prompt()
    out_dir = rundir.prepare(out_dir, config, ignore=RESUMABLE_KEYS, prompts={"critic": prompt.record()})
    path = out_dir / SAMPLES
    problems = _problems(config)
    done = set(rundir.latest_rows(path))
    todo = [item for item in problems if item[0] not in done]
    if todo:
        generator = generator or resolve_engine(config.generator)
        critic = critic or resolve_engine(config.critic)
        with JsonlWriter(path) as writer, tqdm(total=len(todo), desc="tts", unit="problem", disable=not progress,
                                               dynamic_ncols=True) as bar:
            for chunk in rundir.chunks(todo, config.batch_size):
                for row in _sample_rows(config, chunk, generator, critic, prompt):
                    writer.write(row)
                bar.update(len(chunk))

    rows = rundir.latest_rows(path)
    ns = powers_of_two_up_to(config.n)
    metrics = {}
    for label in dict.fromkeys(data for _, data, _ in problems):
        selected = [vote_inputs(rows[key]) for key, data, _ in problems if data == label]
        metrics[label] = accuracy_vs_n(selected, ns) | {"problems": len(selected)}
    rundir.write_json(out_dir / rundir.METRICS, metrics)
    write_tts_report(out_dir, metrics, config.model_dump(mode="json"))
    return metrics

"""Configs of the loop commands (``deepcritic solve``, ``critique``, ``refine``): every default and help text once.

The command-line flags are generated from these fields (critic.commandline), and ``--config FILE`` reads the same
keys from YAML; an unknown key is a one-line error. ``refine`` runs a file of solutions at 2 rounds by default (one
critique, one refinement, one re-check), ``solve`` at 3; ``critique`` runs one critique round with a critic only.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from critic.engines.base import Sampling
from critic.guided import CriticFormat
from critic.io import ShardSpec
from critic.prompts import CriticPromptSettings
from critic.records import SympyMode


class CriticRunConfig(CriticPromptSettings):
    """What every loop command sets for its critic: sampling, SymPy checks, the critic's format, engine options."""

    max_tokens: int = Field(512, ge=1, description="token limit per generation")
    temperature: float = Field(0.0, ge=0.0, description="sampling temperature (0 = greedy)")
    sympy: SympyMode = Field("veto", description="SymPy checks: off, veto (a definite contradiction flags the step) "
                                                 "or prompt (shown to the critic as notes)")
    critic_format: CriticFormat = Field(
        "free", description="free, or guided: the engine holds the critique to the trained format (a block per step, "
                            "then the Answer; needs vllm: or an OpenAI server with structured outputs)")
    engine_args: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="engine options per role, {generator: {...}, critic: {...}}: vLLM engine "
                    "arguments or OpenAI engine settings (flags: --generator-args, --critic-args)")

    @property
    def critic_spec(self) -> str:
        """The critic's engine spec."""
        raise NotImplementedError

    def engine_specs(self) -> dict[str, str]:
        """``{role: engine spec}`` of the roles this command runs (the roles of ``engine_args`` and
        ``--<role>-args``); roles on one spec share one engine."""
        return {"critic": self.critic_spec}

    def sampling(self) -> Sampling:
        """Sampling of every generation of the loop: ``max_tokens`` and ``temperature``."""
        return Sampling(max_tokens=self.max_tokens, temperature=self.temperature)


class LoopConfig(CriticRunConfig):
    """Engines, sampling and critic settings of a critique-refine loop (solve, refine): a generator and a critic."""

    generator: str = Field("embedded", description="generator engine spec: embedded, vllm:<folder or hub id>, "
                                                   "hf:<folder or hub id> or openai:<base_url>#<model>",
                           json_schema_extra={"metavar": "SPEC"})
    critic: str | None = Field(None, description="critic engine spec; None = the generator's spec (one engine)",
                               json_schema_extra={"metavar": "SPEC"})
    max_rounds: int = Field(3, ge=1, description="critique rounds per problem, so at most max_rounds-1 refinements")

    @property
    def critic_spec(self) -> str:
        """The critic's engine spec (the generator's when no critic is set)."""
        return self.critic or self.generator

    def engine_specs(self) -> dict[str, str]:
        return {"generator": self.generator, "critic": self.critic_spec}


class SolveConfig(LoopConfig):
    """``deepcritic solve``: generate a solution to one problem, check, critique and refine it."""


class CritiqueConfig(CriticRunConfig):
    """``deepcritic critique``: one critique round of a given solution (no generator, no refinement)."""

    critic: str = Field("embedded", description="critic engine spec: embedded, vllm:<folder or hub id>, "
                                                "hf:<folder or hub id> or openai:<base_url>#<model>",
                        json_schema_extra={"metavar": "SPEC"})
    engine_args: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="engine options of the critic, {critic: {...}}: vLLM engine arguments or "
                                          "OpenAI engine settings (flag: --critic-args)")

    @property
    def critic_spec(self) -> str:
        """The critic's engine spec."""
        return self.critic


class RefineConfig(LoopConfig):
    """``deepcritic refine``: critique and refine a file of solutions, resumable, one output row per input id."""

    max_rounds: int = Field(2, ge=1, description="critique rounds per solution, so at most max_rounds-1 refinements")
    concurrency: int | None = Field(
        None, ge=1, description="loops in flight at once; None = sized for the engines (e.g. vLLM's max_num_seqs "
                                "+ 25%)")
    shard: ShardSpec = Field(None, description="I/N: only the ids of shard I of N (stable hash of the id)",
                              json_schema_extra={"metavar": "I/N"})
    limit: int | None = Field(None, ge=1, description="only the first N input rows")

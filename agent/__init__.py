"""deepcritic agent: the LangGraph critique-refine loop, ``solve_with_critic``, batch refinement and the CLI.

Importing ``agent`` never imports torch, vLLM or trl; an engine loads them when it is built.
"""

from agent.batch import BatchSummary, arefine_batch, refine_batch
from agent.graph import RoundTrace
from agent.solve import SolveResult, acritique_solution, asolve_with_critic, critique_solution, solve_with_critic

__all__ = [
    "BatchSummary",
    "RoundTrace",
    "SolveResult",
    "acritique_solution",
    "arefine_batch",
    "asolve_with_critic",
    "critique_solution",
    "refine_batch",
    "solve_with_critic",
]

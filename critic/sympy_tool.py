"""The SymPy tool's stable entry point: :func:`check_steps` (and :func:`check_step`) from :mod:`critic.verify`."""

from critic.verify import check_step, check_steps

__all__ = ["check_step", "check_steps"]

"""Training the deliberate critic: Monte-Carlo step labels, seed critique synthesis, SFT and GRPO (trl), with YAML
recipes in ``training/recipes``. Entry point: ``deepcritic train`` (:func:`training.cli.main`).

Nothing here is imported by ``critic`` or ``agent`` at import time; trl and torch load only inside the SFT/RL stages.
"""

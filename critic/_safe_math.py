"""Compatibility names for callers of the former module (``critic.grading``): the code lives in
:mod:`critic.verify.values`."""

from critic.verify.values import format_value, parse_plain_number

__all__ = ["format_value", "parse_plain_number"]

"""Sensors show ``description``, not their docstring, in the UI: the docstring is the one text, made one paragraph."""

from collections.abc import Callable
from typing import Any


def description_of(fn: Callable[..., Any]) -> str:
    return " ".join((fn.__doc__ or "").split())

"""The one error a bad setting raises."""

from __future__ import annotations


class ConfigError(Exception):
    """A setting is missing or malformed; `str()` is the one line shown to the operator."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem

"""Expected failures, each carrying the plain-words message a member sees.

`BotError` is the root: the Discord edge shows `user_message` privately and logs nothing alarming.
Provider errors (in `bot.providers.errors`) derive from it and add the provider's own code.
"""

from __future__ import annotations


class BotError(Exception):
    """An expected failure with a message meant for the member."""

    def __init__(self, user_message: str, *, detail: str | None = None) -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message


class Unsupported(BotError):
    """The configured provider cannot do what was asked (remix on midapi, say)."""


class TooManyActive(BotError):
    """The member already has `MAX_ACTIVE_PER_USER` unfinished tasks."""


class UndeliverableError(Exception):
    """Delivery gave up for good (channel gone and no DM possible); the result stays in the log."""

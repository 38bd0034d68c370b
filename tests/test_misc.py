"""Small pieces: callback tokens, log redaction, member-facing wording."""

from __future__ import annotations

import gc
import json
import logging

import pytest

from bot import heap, messages
from bot.callbacks import CallbackTokens
from bot.logs import JsonFormatter, RedactSecrets


def test_callback_tokens_round_trip_and_reject_forgeries() -> None:
    tokens = CallbackTokens("0123456789abcdef-secret", "https://bot.example/", "vtrix")
    url = tokens.url("a1b2c3")
    assert url.startswith("https://bot.example/callbacks/vtrix/a1b2c3.")
    token = url.rsplit("/", 1)[1]
    assert tokens.task_id("vtrix", token) == "a1b2c3"
    assert tokens.task_id("midapi", token) is None
    assert tokens.task_id("vtrix", "a1b2c3." + "0" * 64) is None
    assert tokens.task_id("vtrix", token.replace("a1b2c3", "a1b2c4")) is None
    other = CallbackTokens("another-secret-0123456", "https://bot.example", "vtrix")
    assert other.task_id("vtrix", token) is None


def test_redaction_covers_messages_args_and_tracebacks() -> None:
    redact = RedactSecrets(["sk-live-123456"])
    try:
        raise RuntimeError("key sk-live-123456 refused")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "using %s", ("sk-live-123456",), None)
        import sys

        record.exc_info = sys.exc_info()
    redact.filter(record)
    line = JsonFormatter().format(record)
    assert "sk-live-123456" not in line and "********" in line
    assert json.loads(line)["message"] == "using ********"


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5s ago"), (120, "2m ago"), (7200, "2h ago"), (172800, "2d ago")]
)
def test_age(seconds: int, text: str) -> None:
    assert messages.age(seconds) == text


def test_shorten() -> None:
    assert messages.shorten("a  b\nc", 10) == "a b c"
    assert messages.shorten("x" * 50, 10) == "x" * 9 + "…"


def test_resets_in_names_midnight_utc() -> None:
    text = messages.resets_in(86400 * 3 + 3600)
    assert "00:00 UTC" in text and "in 23h 0m" in text


def test_prompts_show_their_markdown_literally() -> None:
    assert messages.quoted("**bold** _it_", 100) == "\\*\\*bold\\*\\* \\_it\\_"


def test_settling_the_heap_freezes_what_lives_at_start() -> None:
    try:
        heap.settle()
        assert gc.get_freeze_count() > 0  # full collections no longer walk these
    finally:
        gc.unfreeze()

"""Per-task callback tokens: `<task id>.<HMAC-SHA256 of it>`, so only the provider we told can wake it.

The bot's own id goes in the URL because the provider's id is unknown until the create call returns,
and a callback can even arrive before it does.
"""

from __future__ import annotations

import hashlib
import hmac


class CallbackTokens:
    def __init__(self, secret: str, public_url: str, provider: str) -> None:
        self._key = secret.encode()
        self._public_url = public_url.rstrip("/")
        self._provider = provider

    def token(self, task_id: str) -> str:
        digest = hmac.new(self._key, task_id.encode(), hashlib.sha256).hexdigest()
        return f"{task_id}.{digest}"

    def url(self, task_id: str) -> str:
        return f"{self._public_url}/callbacks/{self._provider}/{self.token(task_id)}"

    def task_id(self, provider: str, token: str) -> str | None:
        """The task id a token is for, or None when the token (or provider) is not ours."""
        task_id, _, digest = token.partition(".")
        # Tokens we hand out are ASCII; anything else (the URL can hold any text) is not ours.
        if provider != self._provider or not task_id or not digest or not token.isascii():
            return None
        expected = self.token(task_id).partition(".")[2]
        # Bytes, not str: compare_digest raises TypeError on a non-ASCII str.
        return task_id if hmac.compare_digest(expected.encode(), digest.encode()) else None

"""Bounds on what the public web port can cost the rest of the bot.

The port is reachable by anyone who finds it, and the same process runs the Discord client, the engine
and the store: every connection is a file descriptor taken from the one per-process limit (often
1,024), every wrong callback a log line, every valid callback a provider status read. These guards keep
each of those bounded whatever arrives on the port.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

Clock = Callable[[], float]


class LogThrottle:
    """Lets one log line through per `interval_s`; counts the ones it held back so the next can say so."""

    def __init__(self, interval_s: float, clock: Clock = time.monotonic) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._next_at = float("-inf")
        self._suppressed = 0

    def ready(self) -> tuple[bool, int]:
        """(log now?, how many were suppressed since the last line that went out)."""
        now = self._clock()
        if now < self._next_at:
            self._suppressed += 1
            return False, 0
        suppressed, self._suppressed = self._suppressed, 0
        self._next_at = now + self._interval_s
        return True, suppressed


class KeyedInterval:
    """At most one event per key per `interval_s`: `wait(key)` is 0 to go now, else seconds to wait.

    Keys are forgotten once their interval is over, so the table stays as small as the recent traffic.
    """

    def __init__(self, interval_s: float, clock: Clock = time.monotonic) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}

    def wait(self, key: str) -> float:
        now = self._clock()
        if len(self._last) > 1024:
            self._last = {k: at for k, at in self._last.items() if now - at < self._interval_s}
        last = self._last.get(key)
        if last is not None and now - last < self._interval_s:
            return last + self._interval_s - now
        self._last[key] = now
        return 0.0

    def claim(self, key: str, at: float) -> None:
        """Record an event scheduled for `at` (a deferred one), so the next window starts there."""
        self._last[key] = at


class ConnectionGate:
    """Caps open connections, and closes those whose request head has not arrived in time.

    At the cap a new connection evicts the oldest one still waiting for its request head (the shape of
    a half-open flood), so a real request (a provider's callback, a health probe) still gets in; only
    when every slot holds a connection that did send a request is the newcomer refused.
    """

    def __init__(self, max_connections: int, head_timeout_s: float) -> None:
        self.max_connections = max_connections
        self.head_timeout_s = head_timeout_s
        self._open: dict[GuardedProtocol, None] = {}  # insertion-ordered: the oldest first

    @property
    def open_count(self) -> int:
        return len(self._open)

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: GuardedProtocol(inner(), self)

    def admit(self, connection: GuardedProtocol) -> bool:
        if len(self._open) >= self.max_connections:
            waiting = next((c for c in self._open if not c.head_seen), None)
            if waiting is None:
                return False
            waiting.close()
        self._open[connection] = None
        return True

    def forget(self, connection: GuardedProtocol) -> None:
        self._open.pop(connection, None)

    def close_all(self) -> None:
        for connection in list(self._open):
            connection.close()


class GuardedProtocol(asyncio.Protocol):
    """Wraps aiohttp's per-connection protocol: everything is passed through, plus the gate's rules."""

    def __init__(self, inner: asyncio.Protocol, gate: ConnectionGate) -> None:
        self._inner = inner
        self._gate = gate
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._tail = b""
        self._admitted = False
        self.head_seen = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        if not self._gate.admit(self):
            # Refused before aiohttp ever saw it: nothing to tell, no slot taken.
            transport.abort()  # type: ignore[attr-defined]
            return
        self._admitted = True
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._gate.head_timeout_s, self._expire)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if not self.head_seen:
            # The blank line that ends the request head, even when it is split across reads (bare
            # LF line ends too, which aiohttp's parser also accepts).
            seen = self._tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self.head_seen = True
                if self._deadline is not None:
                    self._deadline.cancel()
            self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._gate.forget(self)
        if self._deadline is not None:
            self._deadline.cancel()
        if self._admitted:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()

    def _expire(self) -> None:
        if not self.head_seen:
            self.close()

    def close(self) -> None:
        # abort, not close: a peer that sends nothing would also read nothing, and a graceful close
        # would wait on it; the descriptor must come back now.
        self._gate.forget(self)
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()

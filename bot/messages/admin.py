"""/admin status."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ..store.models import GuildControls, Task, TaskState
from .common import describe, state_phrase


# --- /admin ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdminStatus:
    engine: EngineView
    pause: PauseView
    provider: str
    counts: dict[str, int]
    undelivered: int
    controls: GuildControls
    spend: Decimal
    spend_cap: Decimal | None
    daily_requests: int | None


class EngineView(Protocol):
    running: bool
    last_tick: float | None
    lag_s: float
    inflight: int
    errors: int


class PauseView(Protocol):
    reason: str | None

    def active(self, now: float | None = None) -> bool: ...

    def seconds_left(self, now: float | None = None) -> float: ...


def admin_status(report: AdminStatus, now: float) -> str:
    engine, pause, counts = report.engine, report.pause, report.counts
    tick = f"{now - engine.last_tick:.1f}s ago" if engine.last_tick else "never"
    paused = (
        f"paused for {pause.seconds_left(now):.0f}s more ({pause.reason})"
        if pause.active(now)
        else "not paused"
    )
    cap = report.spend_cap
    running = counts[TaskState.SUBMITTED] + counts[TaskState.RUNNING]
    controls = report.controls
    lines = [
        "**Image bot status**",
        f"Engine: {'running' if engine.running else 'stopped'} · last tick {tick} · lag {engine.lag_s:.1f}s · "
        f"{engine.inflight} in flight · {engine.errors} errors since start",
        f"Provider `{report.provider}`: {paused}",
        f"Queue: {counts[TaskState.QUEUED]} queued · {running} running · {report.undelivered} waiting to be posted",
        f"Spend today on this server: ${report.spend:.2f}"
        + (f" of ${cap:.2f} cap" if cap is not None else " (no cap)"),
        f"Per-member daily limit: {report.daily_requests if report.daily_requests is not None else 'none'}",
        "New requests here: " + (f"**paused** by <@{controls.paused_by}>" if controls.paused else "open"),
    ]
    return "\n".join(lines)


def queue_full(unfinished: list[Task], max_active: int, max_queued: int) -> str:
    lines = "\n".join(f"• `{t.id}` {describe(t)} · {state_phrase(t)}" for t in unfinished[:15])
    room = f"{max_active} running and {max_queued} waiting" if max_queued else f"{max_active} running"
    return (
        f"You already have {len(unfinished)} unfinished tasks (the limit is {room}). "
        f"Wait for one to finish, or cancel one:\n{lines}"
    )

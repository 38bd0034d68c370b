"""Acknowledgements first: work behind an interaction waits for the acks of those arriving with it."""

from __future__ import annotations

import asyncio

from bot.discord_app.acks import InFlight


async def test_work_waits_until_every_started_ack_is_sent() -> None:
    acks = InFlight(max_wait_s=5.0)
    order: list[str] = []

    async def interaction(name: str, ack_takes: float) -> None:
        acks.arrived()
        await asyncio.sleep(ack_takes)
        acks.acknowledged()
        order.append(f"ack {name}")
        await acks.settled()
        order.append(f"work {name}")

    await asyncio.gather(interaction("a", 0.01), interaction("b", 0.05), interaction("c", 0.1))
    assert order[:3] == ["ack a", "ack b", "ack c"]  # no work started before the last ack
    assert sorted(order[3:]) == ["work a", "work b", "work c"]


async def test_an_idle_bot_does_not_wait_and_a_stuck_ack_holds_work_only_briefly() -> None:
    acks = InFlight(max_wait_s=0.05)
    await asyncio.wait_for(acks.settled(), 0.01)  # nothing pending: at once
    acks.arrived()  # an acknowledgement that never completes
    loop = asyncio.get_running_loop()
    started = loop.time()
    await acks.settled()
    assert 0.04 <= loop.time() - started < 1.0
    acks.acknowledged()
    assert acks.pending == 0
    await asyncio.wait_for(acks.settled(), 0.01)

"""The loopback Discord's gateway: the websocket, HELLO/IDENTIFY/RESUME, READY and GUILD_CREATE, and
dispatching events to the connected bots.

Sharding works as on Discord: IDENTIFY may carry "shard": [shard_id, shard_count]; the session then
hears only about guilds with (guild_id >> 22) % shard_count == shard_id (DMs belong to shard 0): READY
lists only those, GUILD_CREATE is sent only for those, and guild events and interactions reach only the
session of their guild's shard. A session identified without "shard" is shard 0 of 1 and hears all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from .model import Shard, check_shard, shard_of, snowflake
from .state import DiscordState


@dataclass
class Session:
    """A gateway session: it outlives its websocket, so a RESUME on a new websocket continues it."""

    session_id: str
    shard: Shard = (0, 1)
    sequence: int = 0

    def hears(self, guild_id: str | None) -> bool:
        shard_id, count = self.shard
        return shard_of(guild_id, count) == shard_id


@dataclass(eq=False)
class Connection:
    """One bot websocket; `compressor` is set when the bot asked for zlib-stream transport, `session`
    once it has identified or resumed."""

    ws: web.WebSocketResponse
    compressor: Any = None
    session: Session | None = None


class Gateway(DiscordState):
    def __init__(self, *, token: str, host: str, recommended_shards: int = 1) -> None:
        super().__init__(token=token, host=host, recommended_shards=recommended_shards)
        self._connections: list[Connection] = []
        self._sessions: dict[str, Session] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.resumes = 0
        self.identified = asyncio.Event()

    # --- what tests ask and do -------------------------------------------------------------------
    def is_connected(self) -> bool:
        """Whether a bot holds an identified (or resumed) gateway session right now."""
        return bool(self._connections)

    def connected_shards(self) -> set[int]:
        """The shard ids that have an identified (or resumed) session right now; unsharded is 0."""
        return {c.session.shard[0] for c in self._connections if c.session is not None}

    def forget_connections(self) -> None:
        """Stop counting the current sessions (their bot process is gone), so that waiting for
        `is_connected()` waits for the next bot to identify."""
        self._connections.clear()

    async def drop_gateway(self, code: int = 4000) -> None:
        """A Discord hiccup: close every gateway session; a healthy client reconnects and RESUMEs."""
        for connection in list(self._connections):
            await connection.ws.close(code=code, message=b"hiccup")
        self._connections.clear()

    async def _close_gateway(self) -> None:
        for connection in list(self._connections):
            with contextlib.suppress(Exception):
                await connection.ws.close()

    # --- dispatching -----------------------------------------------------------------------------
    def _announce(self, event: str, payload: dict[str, Any]) -> None:
        """Dispatch an event from synchronous test code, if a bot is connected to hear it."""
        if self._connections:
            sending = asyncio.get_running_loop().create_task(self._send_dispatch(event, payload))
            self._background.add(sending)
            sending.add_done_callback(self._background.discard)

    async def _send_dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to the sessions that hear about its guild, as Discord routes it by shard."""
        guild_id = data.get("guild_id")
        for connection in list(self._connections):
            session = connection.session
            if session is None or not session.hears(guild_id):
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(connection, self._frame(session, event, data))

    @staticmethod
    def _frame(session: Session, event: str, data: dict[str, Any]) -> dict[str, Any]:
        # Sequence numbers count per session: a RESUME continues them.
        session.sequence += 1
        return {"op": 0, "t": event, "s": session.sequence, "d": data}

    async def _send(self, connection: Connection, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        if connection.compressor is None:
            await connection.ws.send_str(raw.decode())
        else:
            compressor = connection.compressor
            await connection.ws.send_bytes(compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH))

    # --- the websocket ---------------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        compressor = zlib.compressobj() if request.query.get("compress") == "zlib-stream" else None
        connection = Connection(ws, compressor)
        await self._send(connection, {"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                op = message.get("op")
                if op == 1:
                    await self._send(connection, {"op": 11, "d": None, "s": None, "t": None})
                elif op in (2, 6) and message["d"].get("token") not in (self.token, f"Bot {self.token}"):
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                elif op == 2:
                    await self._identify(connection, message["d"])
                elif op == 6:
                    await self._resume(connection, message["d"])
        finally:
            if connection in self._connections:
                self._connections.remove(connection)
        return ws

    async def _identify(self, connection: Connection, identify: dict[str, Any]) -> None:
        try:
            shard = check_shard(identify.get("shard", [0, 1]))
        except ValueError:
            await connection.ws.close(code=4010, message=b"Invalid shard.")
            return
        session = Session(snowflake(), shard)
        self._sessions[session.session_id] = session
        connection.session = session
        self._connections.append(connection)
        guilds = [g for g in self.guilds.values() if session.hears(g.id)]
        ready = {
            "v": 10,
            "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": g.id, "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": self.application_id, "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "shard": list(shard),
        }
        await self._send(connection, self._frame(session, "READY", ready))
        for guild in guilds:
            await self._send(connection, self._frame(session, "GUILD_CREATE", self._guild_payload(guild)))
        self.identified.set()

    async def _resume(self, connection: Connection, resume: dict[str, Any]) -> None:
        session = self._sessions.get(str(resume.get("session_id")))
        if session is None:
            # Discord's answer to an unknown session: op 9, not resumable; the client identifies anew.
            await self._send(connection, {"op": 9, "d": False, "s": None, "t": None})
            return
        self.resumes += 1
        connection.session = session
        self._connections.append(connection)
        await self._send(connection, self._frame(session, "RESUMED", {}))

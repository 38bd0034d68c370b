"""The loopback Discord's gateway: the websocket, HELLO/IDENTIFY/RESUME, READY and GUILD_CREATE, and
dispatching events to the connected bots."""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from .model import snowflake
from .state import DiscordState


@dataclass(eq=False)
class Connection:
    """One bot websocket; `compressor` is set when the bot asked for zlib-stream transport."""

    ws: web.WebSocketResponse
    compressor: Any = None


class Gateway(DiscordState):
    def __init__(self, *, token: str, host: str) -> None:
        super().__init__(token=token, host=host)
        self._connections: list[Connection] = []
        self._sequence = 0
        self._session_id = snowflake()
        self._background: set[asyncio.Task[None]] = set()
        self.resumes = 0
        self.identified = asyncio.Event()

    # --- what tests ask and do -------------------------------------------------------------------
    def is_connected(self) -> bool:
        """Whether a bot holds an identified (or resumed) gateway session right now."""
        return bool(self._connections)

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
        for connection in list(self._connections):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(connection, self._frame(event, data))

    def _frame(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        self._sequence += 1
        return {"op": 0, "t": event, "s": self._sequence, "d": data}

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
                    self._connections.append(connection)
                    await self._ready(connection)
                elif op == 6:
                    self.resumes += 1
                    self._connections.append(connection)
                    await self._send(connection, self._frame("RESUMED", {}))
        finally:
            if connection in self._connections:
                self._connections.remove(connection)
        return ws

    async def _ready(self, connection: Connection) -> None:
        ready = {
            "v": 10,
            "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": g, "unavailable": True} for g in self.guilds],
            "session_id": self._session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": self.application_id, "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "shard": [0, 1],
        }
        await self._send(connection, self._frame("READY", ready))
        for guild in self.guilds.values():
            await self._send(connection, self._frame("GUILD_CREATE", self._guild_payload(guild)))
        self.identified.set()

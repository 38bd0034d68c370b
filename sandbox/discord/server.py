"""A loopback Discord: the slice of REST v10 and the gateway this bot uses, enforcing Discord's rules.

The real bot reaches it only through `DISCORD_API_BASE_URL` and `DISCORD_GATEWAY_URL`. Tests and the
demo drive it like members would: `slash(...)` runs a slash command, `press(...)` a button,
`submit_modal(...)` a modal, and `wait_for_message(...)` watches a channel. Whatever the bot does that
Discord would refuse (a late or double acknowledgement, an oversized payload, a follow-up before the
acknowledgement, an expired token) is refused here too, and listed in `violations`.

`FakeDiscord` puts the parts together, one job each: the world model (`state`), the gateway, the REST
routes (`rest`) and the member driver (`members`).
"""

from __future__ import annotations

from aiohttp import web

from ..provider import bound_port
from .members import MemberDriver
from .rest import RestApi


class FakeDiscord(MemberDriver, RestApi):
    def __init__(
        self, *, token: str = "discord-test-token", host: str = "127.0.0.1", recommended_shards: int = 1
    ) -> None:
        super().__init__(token=token, host=host, recommended_shards=recommended_shards)
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._errors])
        self.app.router.add_get("/gateway", self._gateway)
        self._add_rest_routes(self.app.router)

    async def start(self) -> FakeDiscord:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = bound_port(site)
        return self

    async def stop(self) -> None:
        await self._close_gateway()
        if self._runner is not None:
            await self._runner.cleanup()

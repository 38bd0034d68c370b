"""A loopback Discord (REST v10 + a sharding gateway) for end-to-end tests, benchmarks and `make demo`."""

from .model import Channel, Guild, Interaction, User
from .server import FakeDiscord

__all__ = ["Channel", "FakeDiscord", "Guild", "Interaction", "User"]

"""Everything that talks to Discord: the client and command tree, interaction helpers and error
mapping, the buttons and the remix editor, delivery of results, and the progress of private replies."""

from .client import MJBot, Services, point_discord_at
from .delivery import Deliverer
from .interactions import (
    Interaction,
    actor_of,
    defer_private,
    observe_ack,
    own,
    report_error,
    respond,
)
from .submitting import submit_from

__all__ = [
    "Deliverer",
    "Interaction",
    "MJBot",
    "Services",
    "actor_of",
    "defer_private",
    "observe_ack",
    "own",
    "point_discord_at",
    "report_error",
    "respond",
    "submit_from",
]

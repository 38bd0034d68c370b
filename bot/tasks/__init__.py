"""Everything about tasks without Discord: admission, the engine that follows them, delivery
bookkeeping, and the service the commands call."""

from ..store import Admitted
from .actor import Actor
from .admission import Admission, SubmitRequest
from .engine import Engine, EngineState
from .members import MemberSettings
from .outbox import Outbox
from .quota import Quota, Usage
from .service import Reply, TaskPage, TaskService

__all__ = [
    "Actor",
    "Admission",
    "Admitted",
    "Engine",
    "EngineState",
    "MemberSettings",
    "Outbox",
    "Quota",
    "Reply",
    "SubmitRequest",
    "TaskPage",
    "TaskService",
    "Usage",
]

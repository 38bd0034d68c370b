"""Building blocks: limits, state words, shortening and escaping members' words, task descriptions."""

from __future__ import annotations

from discord.utils import escape_markdown

from ..store.models import Task, TaskState

# Discord refuses a message whose content is longer than this.
DISCORD_CONTENT_MAX = 2000
STATE_WORDS = {
    TaskState.QUEUED: "queued",
    TaskState.SUBMITTED: "submitted",
    TaskState.RUNNING: "running",
    TaskState.SUCCEEDED: "done",
    TaskState.FAILED: "failed",
    TaskState.TIMED_OUT: "timed out",
    TaskState.CANCELLED: "cancelled",
}

RESTARTING = "The bot is restarting right now. Try again in a minute; nothing you started is lost."
APOLOGY = "Sorry, something went wrong on my side. It has been logged; please try again."
NOT_ALLOWED = "You can't use that here."
OUTDATED_COMMAND = (
    "Discord sent an older version of this command (it is still being updated). "
    "Try again in a minute; if it persists, ask an admin to run /admin sync."
)
ADMIN_ONLY = "Only members with the Manage Server permission can use /admin."
GUILD_PAUSED = "An admin has paused new requests on this server. Try again later."
WHICH_GRID = "Which grid? Give a task id from /tasks."
UPSCALE_UNAVAILABLE = "Upscaling is not available with this provider."
CHANNEL_GONE = "The channel this was started in is gone, so here it is."
LINKED_NOTE = (
    "-# The images could not be re-uploaded, so these are the provider's links "
    "(they expire in about 15 days)."
)
NO_ANSWER_NOW = (
    "The provider's answer to this request could not be read, and the bot did not send it again so "
    "you are not charged twice. If it went through it shows up at the provider; otherwise try again."
)
NO_ANSWER = (
    "The provider never confirmed this request, and the bot did not send it again so you are "
    "not charged twice. Check /tasks in a while, or press the button again."
)
ADMIN_PAUSED = (
    "Paused: new requests on this server are refused until `/admin resume`. Running tasks still finish."
)
ADMIN_RESUMED = "Resumed: members can make new requests again."


# --- building blocks ---------------------------------------------------------------------------
def shorten(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def quoted(prompt: str | None, limit: int) -> str:
    """A member's prompt inside our own formatting: shortened, its markdown shown literally, and no
    longer than `limit` once escaped (escaping can double a prompt made of markdown characters)."""
    escaped = escape_markdown(shorten(prompt, limit))
    if len(escaped) <= limit:
        return escaped
    low, high = 0, limit  # the longest shortening whose escaped form fits
    while low < high:
        middle = (low + high + 1) // 2
        if len(escape_markdown(shorten(prompt, middle))) <= limit:
            low = middle
        else:
            high = middle - 1
    return escape_markdown(shorten(prompt, low))


def shorten_block(text: str) -> str:
    return text if len(text) <= DISCORD_CONTENT_MAX else text[: DISCORD_CONTENT_MAX - 1] + "…"


def describe(task: Task) -> str:
    """What a task is, as members read it: `imagine`, `V2 strong of a1b2c3`, `U3 of a1b2c3`."""
    if task.kind == "imagine":
        return "imagine"
    parent = task.parent_id or (task.parent_provider_task_id or "?")[:12]
    if task.kind == "upscale":
        return f"U{task.image_index} of {parent}"
    strength = f" {task.strength}" if task.strength else ""
    remix = " remix" if task.remix_prompt else ""
    return f"V{task.image_index}{strength}{remix} of {parent}"


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def state_phrase(task: Task) -> str:
    if task.state == TaskState.RUNNING:
        return f"running {task.progress}%"
    if task.state == TaskState.SUBMITTED and task.create_uncertain:
        return "waiting for the provider to confirm"
    return STATE_WORDS[task.state]


def message_link(task: Task) -> str | None:
    if task.result_message_id is None or task.channel_id is None:
        return None
    guild = task.guild_id if task.guild_id is not None else "@me"
    return f"https://discord.com/channels/{guild}/{task.channel_id}/{task.result_message_id}"

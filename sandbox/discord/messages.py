"""Messages as the loopback Discord stores them: what Discord would refuse, how a message is built from a
request body, how an edit merges into it, who it pings, and what goes back on the wire.

Besides Discord's own fields a stored message carries "pinged": the ids of the users Discord would
notify, by its allowed_mentions rules, and "revisions": what it looked like after its creation and
after each edit (content and components), so a reply's whole life can be read back, not only its
end. Like the attachment bytes, both stay off the wire.
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from .model import DiscordError, Limits, User, iso, snowflake

Files = list[tuple[str, bytes, str]]
EDITABLE = ("content", "components", "embeds")
OFF_THE_WIRE = ("pinged", "revisions")


def revision(message: dict[str, Any]) -> dict[str, Any]:
    """What a member saw of the message at one moment."""
    return {"content": message["content"], "components": message["components"], "flags": message["flags"]}


def check_message(payload: dict[str, Any], files: Files, limits: Limits) -> list[str]:
    """Everything Discord would refuse in a message body, as readable problems."""
    problems = []
    content = payload.get("content")
    if content is not None and len(str(content)) > limits.content:
        problems.append(f"content is {len(str(content))} characters (limit {limits.content})")
    rows = payload.get("components") or []
    if len(rows) > limits.rows:
        problems.append(f"{len(rows)} component rows (limit {limits.rows})")
    for row in rows:
        children = row.get("components") or []
        if row.get("type") != 1:
            problems.append("top-level component is not an action row")
        if len(children) > limits.per_row:
            problems.append(f"{len(children)} buttons in a row (limit {limits.per_row})")
        for child in children:
            custom_id = child.get("custom_id")
            if custom_id is not None and len(custom_id) > limits.custom_id:
                problems.append(
                    f"custom_id {custom_id[:20]}… is {len(custom_id)} long (limit {limits.custom_id})"
                )
            label = child.get("label")
            if label is not None and len(label) > limits.label:
                problems.append(f"label is {len(label)} long (limit {limits.label})")
            if child.get("type") == 2 and child.get("style") != 5 and not custom_id:
                problems.append("button without custom_id")
    if len(files) > limits.attachments:
        problems.append(f"{len(files)} attachments (limit {limits.attachments})")
    if sum(len(data) for _name, data, _kind in files) > limits.upload_bytes:
        problems.append(f"uploads over {limits.upload_bytes} bytes")
    if len(payload.get("embeds") or []) > limits.embeds:
        problems.append("too many embeds")
    return problems + check_allowed_mentions(payload.get("allowed_mentions"))


def check_allowed_mentions(allowed: Any) -> list[str]:
    if allowed is None:
        return []
    if not isinstance(allowed, dict):
        return ["allowed_mentions is not an object"]
    problems = []
    parse = allowed.get("parse") or []
    unknown = set(parse) - {"users", "roles", "everyone"}
    if unknown:
        problems.append(f"allowed_mentions.parse has unknown types {sorted(unknown)}")
    for kind in ("users", "roles"):
        listed = allowed.get(kind) or []
        if kind in parse and listed:
            problems.append(f"allowed_mentions: parse {kind!r} and a {kind} list are mutually exclusive")
        if len(listed) > 100:
            problems.append(f"allowed_mentions.{kind} has {len(listed)} ids (limit 100)")
    return problems


def refuse_if_invalid(payload: dict[str, Any], files: Files, limits: Limits) -> None:
    problems = check_message(payload, files, limits)
    if problems:
        raise DiscordError(400, 50035, "Invalid Form Body: " + "; ".join(problems))


def mentioned_ids(content: str) -> list[str]:
    return re.findall(r"<@!?(\d+)>", content)


def pinged_ids(
    content: str,
    allowed: dict[str, Any] | None,
    users: dict[str, User],
    *,
    author_id: str,
    replied_author: str | None = None,
) -> list[str]:
    """Whom Discord notifies for a message, in order of mention.

    Without allowed_mentions every user mentioned in the content is pinged, and so is the author of the
    message replied to. With it, a mentioned user is pinged only if "users" is in `parse` or their id is
    in `users` (the list never adds anyone the content does not mention), and the replied-to author only
    if `replied_user` is true. Nobody is notified about their own message.
    """
    mentioned = list(dict.fromkeys(u for u in mentioned_ids(content) if u in users))
    if allowed is None:
        pinged, reply_pings = mentioned, True
    else:
        listed = {str(u) for u in allowed.get("users") or []}
        pinged = [u for u in mentioned if "users" in (allowed.get("parse") or []) or u in listed]
        reply_pings = bool(allowed.get("replied_user", False))
    if replied_author is not None and reply_pings and replied_author not in pinged:
        pinged.append(replied_author)
    return [u for u in pinged if u != author_id]


def build_message(
    payload: dict[str, Any],
    files: Files,
    *,
    channel_id: str,
    guild_id: str | None,
    author: User,
    users: dict[str, User],
    attachment_base: str,
    limits: Limits,
    flags: int = 0,
    replied_author: str | None = None,
) -> dict[str, Any]:
    """A new message from a create body; attachment bytes stay on it (under "data") for tests to read."""
    refuse_if_invalid(payload, files, limits)
    message_id = snowflake()
    attachments = [
        {
            "id": snowflake(),
            "filename": name,
            "size": len(data),
            # As Discord does: the type comes from the file name first, the declared type second.
            "content_type": mimetypes.guess_type(name)[0] or kind or "application/octet-stream",
            "url": f"{attachment_base}/{channel_id}/{message_id}/{name}",
            "proxy_url": f"{attachment_base}/{channel_id}/{message_id}/{name}",
            "data": data,
        }
        for name, data, kind in files
    ]
    content = payload.get("content") or ""
    message = {
        "id": message_id,
        "channel_id": channel_id,
        "guild_id": guild_id,
        "author": author.payload(),
        "content": content,
        "timestamp": iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [users[u].payload() for u in mentioned_ids(content) if u in users],
        "mention_roles": [],
        "attachments": attachments,
        "embeds": payload.get("embeds") or [],
        "pinned": False,
        "type": 0,
        "flags": flags | (payload.get("flags") or 0),
        "components": payload.get("components") or [],
        "pinged": pinged_ids(
            content,
            payload.get("allowed_mentions"),
            users,
            author_id=author.id,
            replied_author=replied_author,
        ),
    }
    if payload.get("message_reference"):
        message["message_reference"] = payload["message_reference"]
    message["revisions"] = [revision(message)]
    return message


def apply_edit(
    message: dict[str, Any],
    data: dict[str, Any],
    files: Files,
    limits: Limits,
    *,
    users: dict[str, User],
    replied_author: str | None = None,
) -> None:
    merged = {**message, **{k: v for k, v in data.items() if k in EDITABLE}}
    refuse_if_invalid({**merged, "allowed_mentions": data.get("allowed_mentions")}, files, limits)
    message.update({k: v for k, v in merged.items() if k in EDITABLE})
    if "content" in data or "allowed_mentions" in data:
        # Discord rebuilds an edited message's mentions from the new content, by the edit's own
        # allowed_mentions or, without them, by the defaults (not by those of the original request).
        message["pinged"] = pinged_ids(
            message["content"],
            data.get("allowed_mentions"),
            users,
            author_id=message["author"]["id"],
            replied_author=replied_author,
        )
    # An edit ends the "thinking…" state of a deferred reply.
    message["flags"] = (message.get("flags") or 0) & ~128
    message["edited_timestamp"] = iso()
    message.setdefault("revisions", []).append(revision(message))


def public(message: dict[str, Any]) -> dict[str, Any]:
    """The message as Discord sends it: without the attachment bytes, "pinged" and "revisions"."""
    return {
        **{k: v for k, v in message.items() if k not in OFF_THE_WIRE},
        "attachments": [{k: v for k, v in a.items() if k != "data"} for a in message["attachments"]],
    }

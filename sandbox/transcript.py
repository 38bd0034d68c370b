"""The demo's transcript: what members did and saw, printed as it happens and written as one
self-contained HTML page (images inline as data URIs, Discord's markdown rendered: **bold**, `code`,
links, `-#` small text), with every edit of each private reply shown in order."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

from .discord import Channel, Interaction, User
from .world import World

Message = dict[str, Any]
JUMP = re.compile(r"https://discord\.com/channels/[^/\s]+/(\d+)/(\d+)")
# A markdown link, a <bare link> Discord shows without a preview, or a bare link.
LINKS = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)|&lt;(https?://[^\s&]+)&gt;|(https?://[^\s<]+)")
ESCAPED = re.compile(r"\\([\\*_`~|>\[\]()#-])")
# Headless browsers often have no emoji font: the re-roll emoji is drawn as an arrow every font has.
REROLL, ARROW = "🔄", '<span title="re-roll">&#x21bb;</span>'
BUTTON_STYLES = {1: "primary", 2: "secondary", 3: "success", 4: "danger", 5: "link"}


class Transcript:
    def __init__(self, title: str) -> None:
        self.title = title
        self.sections: list[tuple[str, str, list[dict[str, Any]]]] = []
        self.names: dict[str, str] = {}
        self.channels: dict[str, str] = {}
        self.shown: dict[str, int] = {}  # how many revisions of each private reply are on the page

    # --- recording -------------------------------------------------------------------------------
    def part(self, w: World, heading: str, intro: str) -> None:
        """A new part of the session (one world: one provider)."""
        self.names.update({u.id: u.name for u in (w.alice, w.bob, w.admin, w.discord.bot)})
        self.channels.update({c.id: c.name for c in w.discord.channels.values() if c.kind == 0})
        self.sections.append((heading, intro, []))
        print(f"\n=== {heading}\n{intro}")

    def know(self, channel: Channel) -> None:
        self.channels[channel.id] = channel.name

    def scene(self, title: str) -> None:
        print(f"\n--- {title}")
        self._add({"kind": "scene", "text": title})

    def say(self, who: User, action: str) -> None:
        print(f"\n▶ {who.name} {action}")
        self._add({"kind": "action", "who": who.name, "text": action})

    def private(self, who: User, interaction: Interaction) -> None:
        """A private reply as it has been so far: every edit since it was last shown here."""
        print(f"   (only {who.name} sees) {self.readable(interaction.visible_text())}")
        revisions = list(_reply(interaction).get("revisions", []))
        start = self.shown.get(interaction.id, 0)
        self.shown[interaction.id] = len(revisions)
        self._add({"kind": "ephemeral", "who": who.name, "revisions": revisions[start:], "again": start > 0})

    def post(self, message: Message) -> None:
        where = self.channels.get(message["channel_id"], "dm")
        print(f"   #{where} MJBot: {self.readable(message['content'])}")
        buttons = [b.get("label") or (b.get("emoji") or {}).get("name") for b in _buttons(message)]
        if message["attachments"] or buttons:
            print(f"      [{len(message['attachments'])} image(s)] " + " ".join(f"[{b}]" for b in buttons))
        self._add({"kind": "post", "message": message})

    def modal(self, who: User, opened: Interaction, submitted: str) -> None:
        modal = opened.modal or {}
        fields = [item for row in modal.get("components", []) for item in row.get("components", [])]
        print(f"   (editor '{modal.get('title')}' for {who.name}) prefilled: {fields[0].get('value')!r}")
        self._add(
            {"kind": "modal", "who": who.name, "modal": modal, "fields": fields, "submitted": submitted}
        )

    def note(self, text: str) -> None:
        print(f"   ({text})")
        self._add({"kind": "note", "text": text})

    def _add(self, entry: dict[str, Any]) -> None:
        self.sections[-1][2].append(entry)

    # --- reading Discord's text ------------------------------------------------------------------
    def readable(self, text: str) -> str:
        text = re.sub(r"<@!?(\d+)>", lambda m: "@" + self.names.get(m.group(1), m.group(1)), text)
        return re.sub(r"<#(\d+)>", lambda m: "#" + self.channels.get(m.group(1), m.group(1)), text)

    def markup(self, text: str) -> str:
        """Discord's markdown, as far as the bot uses it, in HTML."""
        lines = []
        for line in text.split("\n"):
            small = line.startswith("-# ")
            body = self._inline(line[3:] if small else line)
            lines.append(f'<div class="sub">{body}</div>' if small else f"<div>{body or '&nbsp;'}</div>")
        return "".join(lines)

    def _inline(self, text: str) -> str:
        # Escaped markdown characters are shown as themselves: park them where no rule can see them.
        parked: list[str] = []

        def park(char: str) -> str:
            parked.append(char)
            return f"\x00{len(parked) - 1}\x00"

        text = ESCAPED.sub(lambda m: park(m.group(1)), text)
        out = html.escape(self.readable(text), quote=False)
        # Mentions read as Discord's blue pills.
        out = re.sub(r"(?<![\w/])@(alice|bob|admin|MJBot)\b", r'<span class="mention">@\1</span>', out)
        out = LINKS.sub(self._link, out)
        out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
        out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
        out = out.replace(REROLL, ARROW)
        return re.sub("\x00(\\d+)\x00", lambda m: html.escape(parked[int(m.group(1))]), out)

    def _link(self, match: re.Match[str]) -> str:
        text, url = match.group(1), match.group(2) or match.group(3) or match.group(4)
        trailing = ""
        if match.group(4):
            while url and url[-1] in ".,;:":  # sentence punctuation is not part of a bare link
                url, trailing = url[:-1], url[-1] + trailing
        jump = JUMP.fullmatch(url)
        href = f"#m{jump.group(2)}" if jump else url
        if text is None:
            # Discord shows a bare message link as a pill naming its channel.
            text = f"#{self.channels.get(jump.group(1), 'channel')} › message" if jump else url
        title = html.escape(url, quote=True)
        return f'<a href="{html.escape(href, quote=True)}" title="{title}">{text}</a>{trailing}'

    # --- the page --------------------------------------------------------------------------------
    def write_html(self, path: Path) -> None:
        body = []
        for heading, intro, entries in self.sections:
            body.append(f"<h2>{html.escape(heading)}</h2><p class='intro'>{self._inline(intro)}</p>")
            body.extend(self._entry(entry) for entry in entries)
        path.write_text(
            PAGE.replace("{title}", html.escape(self.title)).replace("{body}", "\n".join(body)),
            encoding="utf-8",
        )

    def _entry(self, entry: dict[str, Any]) -> str:
        kind = entry["kind"]
        if kind == "scene":
            return f"<h3>{html.escape(entry['text'])}</h3>"
        if kind == "action":
            return f'<div class="action"><b>{entry["who"]}</b> {self._inline(entry["text"])}</div>'
        if kind == "note":
            return f'<div class="note">{self._inline(entry["text"])}</div>'
        if kind == "ephemeral":
            return self._ephemeral(entry)
        if kind == "modal":
            return self._modal(entry)
        return self._post(entry["message"])

    def _ephemeral(self, entry: dict[str, Any]) -> str:
        revisions = [r for r in entry["revisions"] if r["content"]]
        steps = []
        for n, revision in enumerate(revisions):
            last = n == len(revisions) - 1
            label = "now" if last else "then" if n or entry["again"] else "first"
            steps.append(
                f'<div class="step{" last" if last else ""}"><span class="when">{label}</span>'
                f'<div class="said">{self.markup(revision["content"])}</div>'
                f"{self._buttons(revision.get('components') or [])}</div>"
            )
        first = revisions[0]["content"] if revisions else ""
        about = re.search(r"`([a-z0-9]{6})`", first)
        named = f" (<code>{about.group(1)}</code>)" if about else ""
        again = f" · the same reply{named}, edited since" if entry["again"] else ""
        return (
            f'<div class="msg eph"><div class="who">MJBot <span class="tag bot">APP</span>'
            f'<span class="only">Only {html.escape(entry["who"])} can see this{again}</span></div>'
            f"{''.join(steps)}</div>"
        )

    def _modal(self, entry: dict[str, Any]) -> str:
        modal = entry["modal"]
        fields = "".join(
            f"<label>{html.escape(item.get('label') or '')}</label>"
            f'<div class="input">{html.escape(item.get("value") or "")}</div>'
            for item in entry["fields"]
        )
        return (
            f'<div class="modal"><div class="mtitle">{html.escape(modal.get("title") or "")}</div>'
            f'<div class="mnote">The editor Discord opens for {html.escape(entry["who"])}, pre-filled:</div>{fields}'
            f'<div class="mbuttons"><span class="btn link">Cancel</span><span class="btn primary">Submit</span></div>'
            f'<div class="mnote">{html.escape(entry["who"])} changed it to: <b>{html.escape(entry["submitted"])}</b></div></div>'
        )

    def _post(self, message: Message) -> str:
        images = "".join(
            f'<img src="data:{a["content_type"]};base64,{base64.b64encode(a["data"]).decode()}" '
            f'alt="{html.escape(a["filename"])}">'
            for a in message["attachments"]
        )
        single = " single" if len(message["attachments"]) == 1 else ""
        where = self.channels.get(message["channel_id"], "a DM")
        pinged = ", ".join("@" + self.names.get(u, u) for u in message.get("pinged") or []) or "nobody"
        return (
            f'<div class="msg" id="m{message["id"]}"><div class="who">MJBot <span class="tag bot">APP</span>'
            f'<span class="where">in #{html.escape(where)} · pings {html.escape(pinged)}</span></div>'
            f'{self.markup(message["content"])}<div class="grid{single}">{images}</div>'
            f"{self._buttons(message['components'])}</div>"
        )

    def _buttons(self, rows: list[dict[str, Any]]) -> str:
        out = []
        for row in rows:
            buttons = "".join(
                f'<span class="btn {BUTTON_STYLES.get(b.get("style"), "secondary")}" '
                f'title="{html.escape(b.get("custom_id") or "")}">{_face(b)}</span>'
                for b in row.get("components") or []
            )
            out.append(f'<div class="buttons">{buttons}</div>')
        return "".join(out)


def _face(button: dict[str, Any]) -> str:
    """A button's label; the re-roll emoji is drawn as an arrow, which every font has."""
    text = button.get("label") or (button.get("emoji") or {}).get("name") or ""
    return ARROW if text == REROLL else html.escape(text)


def _reply(interaction: Interaction) -> Message:
    """The message a member reads as an interaction's answer (for a press that updated its own
    message, that message)."""
    return interaction.original or interaction.source_message or {}


def _buttons(message: Message) -> list[dict[str, Any]]:
    return [b for row in message.get("components") or [] for b in row.get("components") or []]


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body{background:#313338;color:#dbdee1;font:15px/1.45 "gg sans","Noto Sans",system-ui,sans-serif;max-width:860px;margin:24px auto;padding:0 16px}
h1{font-size:22px;color:#f2f3f5}h2{font-size:19px;color:#f2f3f5;border-top:1px solid #4e5058;padding-top:18px;margin-top:34px}
h3{font-size:15px;color:#b5bac1;text-transform:uppercase;letter-spacing:.04em;margin:26px 0 6px}
.intro{color:#b5bac1}.action{color:#b5bac1;margin:14px 0 4px}.action b{color:#f2f3f5}.note{color:#949ba4;font-style:italic;margin:4px 0}
.msg{background:#2b2d31;border-radius:8px;padding:10px 14px;margin:6px 0}
.eph{border-left:3px solid #5865f2}.who{font-weight:600;color:#f2f3f5;margin-bottom:4px}
.tag{font-size:10px;border-radius:3px;padding:1px 4px;margin-left:6px;font-weight:600;vertical-align:1px}.tag.bot{background:#5865f2;color:#fff}
.only,.where{font-size:12px;color:#949ba4;font-weight:400;margin-left:8px}
.step{display:flex;gap:10px;padding:4px 0;color:#949ba4}.step.last{color:#dbdee1}
.when{flex:0 0 52px;font-size:11px;color:#949ba4;text-transform:uppercase;padding-top:3px}
.step .said{flex:1}.step+.step{border-top:1px dashed #3f4147}.step .buttons{margin:0;align-self:center}
.step .btn{font-size:12px;padding:1px 10px}
.sub{font-size:12.5px;color:#949ba4}a{color:#00a8fc;text-decoration:none}a:hover{text-decoration:underline}
.mention{background:rgba(88,101,242,.3);color:#c9cdfb;border-radius:3px;padding:0 2px}
.grid{display:grid;grid-template-columns:repeat(2,150px);gap:4px;margin-top:8px}.grid img{width:150px;height:150px;border-radius:4px}
.grid.single{grid-template-columns:220px}.grid.single img{width:220px;height:220px}
.buttons{margin-top:6px;display:flex;flex-wrap:wrap;gap:6px}
.btn{border-radius:3px;padding:3px 14px;font-size:14px;color:#fff;background:#4e5058;min-width:24px;text-align:center}
.btn.danger{background:#da373c}.btn.primary{background:#5865f2}.btn.success{background:#248046}.btn.link{background:none;color:#dbdee1}
code{background:#1e1f22;padding:1px 4px;border-radius:3px;font-size:13px}
.modal{background:#313338;border:1px solid #1e1f22;box-shadow:0 8px 24px rgba(0,0,0,.5);border-radius:6px;padding:16px;margin:8px 40px;max-width:520px}
.mtitle{font-size:18px;font-weight:600;color:#f2f3f5;margin-bottom:6px}.mnote{color:#949ba4;font-size:13px;margin:6px 0}
.modal label{display:block;font-size:12px;font-weight:700;text-transform:uppercase;color:#b5bac1;margin-top:8px}
.input{background:#1e1f22;border-radius:3px;padding:8px 10px;min-height:48px;margin-top:4px;color:#dbdee1}
.mbuttons{display:flex;justify-content:flex-end;gap:8px;margin-top:12px}
</style></head><body><h1>{title}</h1>
<p class="intro">The real bot, unmodified, against a loopback Discord and provider. A private reply is
edited as its task moves: Discord shows only its latest state, so its earlier states are shown here too,
greyed, oldest first. Message links jump to the message on this page.</p>
{body}
</body></html>"""

"""`make demo`: the whole product offline.

Starts the loopback Discord, a loopback Vtrix provider and the real bot (`python -m bot`), plays a
scripted session (an /imagine, V2 by a second member, a remix, a failure, /tasks), prints a readable
transcript and writes an HTML transcript with the images and buttons to `demo-out/transcript.html`.
No token, no key, no network.
"""

from __future__ import annotations

import asyncio
import base64
import html
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from .discord import Interaction, User
from .world import World, world

OUT = Path(__file__).resolve().parents[1] / "demo-out"


class Transcript:
    def __init__(self, w: World) -> None:
        self.w = w
        self.entries: list[dict[str, Any]] = []
        self.names = {w.alice.id: "alice", w.bob.id: "bob", w.admin.id: "admin", w.discord.bot.id: "MJBot"}

    def readable(self, text: str) -> str:
        return re.sub(r"<@!?(\d+)>", lambda m: "@" + self.names.get(m.group(1), m.group(1)), text)

    def say(self, who: User, action: str) -> None:
        line = f"{who.name} {action}"
        print(f"\n▶ {line}")
        self.entries.append({"kind": "action", "who": who.name, "text": action})

    def private(self, who: User, text: str, interaction: Interaction | None = None) -> None:
        print(f"   (only {who.name} sees) {self.readable(text)}")
        self.entries.append({"kind": "ephemeral", "who": who.name, "text": text, "interaction": interaction})

    def post(self, message: dict[str, Any]) -> None:
        buttons = [
            b.get("label") or (b.get("emoji") or {}).get("name")
            for r in message["components"]
            for b in r["components"]
        ]
        images = len(message["attachments"])
        print(f"   #{self.w.channel.name} MJBot: {self.readable(message['content'])}")
        if images or buttons:
            print(
                f"      [{images} image{'s' if images != 1 else ''}] " + " ".join(f"[{b}]" for b in buttons)
            )
        self.entries.append({"kind": "post", "message": message, "buttons": buttons})

    def write_html(self, path: Path) -> None:
        parts = []
        for entry in self.entries:
            if entry["kind"] == "action":
                parts.append(
                    f'<div class="action"><b>{html.escape(entry["who"])}</b> {html.escape(entry["text"])}</div>'
                )
            elif entry["kind"] == "ephemeral":
                # The reply as it ended: the bot edits it as the task moves (queued → posted).
                final = entry["interaction"].visible_text() if entry["interaction"] else entry["text"]
                entry = {**entry, "text": final or entry["text"]}
                parts.append(
                    f'<div class="msg eph"><div class="who">MJBot <span class="tag">Only {html.escape(entry["who"])} can see this</span></div>'
                    f"<div>{self.markup(entry['text'])}</div></div>"
                )
            else:
                message = entry["message"]
                images = "".join(
                    f'<img src="data:{a["content_type"]};base64,{base64.b64encode(a["data"]).decode()}" alt="{html.escape(a["filename"])}">'
                    for a in message["attachments"]
                )
                buttons = "".join(
                    f'<span class="btn" title="{"re-roll" if b == "🔄" else b}">{html.escape(b)}</span>'
                    for b in entry["buttons"]
                )
                parts.append(
                    f'<div class="msg"><div class="who">MJBot <span class="tag bot">BOT</span></div>'
                    f'<div>{self.markup(message["content"])}</div><div class="grid">{images}</div><div class="buttons">{buttons}</div></div>'
                )
        page = PAGE.replace("{body}", "\n".join(parts))
        path.write_text(page, encoding="utf-8")

    def markup(self, text: str) -> str:
        text = html.escape(self.readable(text))
        text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
        text = re.sub(r"^-# (.*)$", r"<small>\1</small>", text, flags=re.M)
        return text.replace("\n", "<br>")


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>MJBot demo transcript</title><style>
body{background:#313338;color:#dbdee1;font:15px/1.4 system-ui,sans-serif;max-width:820px;margin:24px auto}
h1{font-size:20px}.action{color:#949ba4;margin:18px 0 4px}.msg{background:#2b2d31;border-radius:8px;padding:10px 14px;margin:6px 0}
.eph{border-left:3px solid #5865f2}.who{font-weight:600;color:#f2f3f5;margin-bottom:4px}.tag{font-size:11px;background:#4e5058;border-radius:3px;padding:1px 5px;margin-left:6px;font-weight:400}
.tag.bot{background:#5865f2}.grid{display:grid;grid-template-columns:repeat(2,220px);gap:4px;margin-top:8px}.grid img{width:220px;height:220px;border-radius:4px}
.buttons{margin-top:8px;display:flex;flex-wrap:wrap;gap:6px;max-width:460px}.btn{background:#4e5058;color:#fff;border-radius:4px;padding:4px 14px;font-size:14px}
code{background:#1e1f22;padding:1px 4px;border-radius:3px}small{color:#949ba4}
</style></head><body><h1>MJBot — a scripted session against the loopback Discord and provider</h1>
{body}
</body></html>"""


async def answer(
    w: World, t: Transcript, who: User, interaction: Interaction, check: Any = lambda text: "`" in text
) -> str:
    text = await w.discord.wait_for_answer(interaction, check, timeout=20)
    t.private(who, text, interaction)
    return text


async def main() -> int:
    OUT.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="mjbot-demo-"))
    try:
        async with world(scratch, "vtrix", duration_s=1.5, POLL_FIRST_S="0.5", POLL_MAX_S="1") as w:
            t = Transcript(w)
            discord = w.discord
            print("The real bot is running against a loopback Discord and a loopback Vtrix provider.")

            t.say(w.alice, "used /imagine prompt: a lighthouse on a cliff at dusk, oil painting")
            ask = await discord.slash(
                w.alice, w.channel, "imagine", prompt="a lighthouse on a cliff at dusk, oil painting"
            )
            grid_id = (await answer(w, t, w.alice, ask)).split("`")[1]
            grid = await discord.wait_for_message(
                w.channel, lambda m: grid_id in m["content"] and bool(m["attachments"]), 20
            )
            t.post(grid)

            t.say(w.bob, "pressed V2 under alice's grid")
            press = await discord.press(w.bob, grid, "V2")
            v2 = (await answer(w, t, w.bob, press)).split("`")[1]
            t.post(
                await discord.wait_for_message(
                    w.channel, lambda m: v2 in m["content"] and bool(m["attachments"]), 20
                )
            )

            t.say(w.bob, "used /settings remix: on")
            settings = await discord.slash(w.bob, w.channel, "settings", remix="on")
            await answer(w, t, w.bob, settings, bool)
            t.say(w.bob, "pressed V3: a remix editor opens with the grid's prompt")
            press = await discord.press(w.bob, grid, "V3")
            for _ in range(100):
                if press.modal:
                    break
                await asyncio.sleep(0.05)
            assert press.modal is not None, "the remix modal never opened"
            field = press.modal["components"][0]["components"][0]
            print(f"   (modal '{press.modal['title']}') prefilled: {field['value']!r}")
            t.say(w.bob, "submitted the remix: a lighthouse on a cliff in a snowstorm, oil painting")
            submitted = await discord.submit_modal(
                w.bob, press, {"*": "a lighthouse on a cliff in a snowstorm, oil painting"}
            )
            remix = (await answer(w, t, w.bob, submitted)).split("`")[1]
            t.post(
                await discord.wait_for_message(
                    w.channel, lambda m: remix in m["content"] and bool(m["attachments"]), 20
                )
            )

            t.say(w.alice, "used /imagine prompt: something the moderation filter rejects [fail]")
            bad = await discord.slash(
                w.alice, w.channel, "imagine", prompt="something the moderation filter rejects [fail]"
            )
            bad_id = (await answer(w, t, w.alice, bad)).split("`")[1]
            t.post(
                await discord.wait_for_message(
                    w.channel, lambda m: bad_id in m["content"] and "failed" in m["content"], 20
                )
            )

            t.say(w.bob, "used /tasks")
            log = await discord.slash(w.bob, w.channel, "tasks")
            await answer(w, t, w.bob, log, lambda text: "Your tasks" in text)

            await asyncio.sleep(2)  # let the private replies settle on their final text
            problems = discord.violations + [f"unanswered: {i.name}" for i in discord.unanswered()]
        t.write_html(OUT / "transcript.html")
        print(f"\nHTML transcript (images and buttons): {OUT / 'transcript.html'}")
        if problems:
            print("Discord rule violations:", problems)
            return 1
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

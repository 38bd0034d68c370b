"""The invite link server owners are given: the scopes and exactly the permissions delivery needs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bot.discord_app.invite import PERMISSIONS, invite_url


def test_invite_asks_for_send_embed_attach_and_nothing_else() -> None:
    assert PERMISSIONS.value == 2048 + 16384 + 32768 == 51200
    granted = {name for name, on in PERMISSIONS if on}
    assert granted == {"send_messages", "embed_links", "attach_files"}


def test_invite_url_has_the_documented_form() -> None:
    url = invite_url(1234567890123)
    assert url == (
        "https://discord.com/oauth2/authorize?client_id=1234567890123"
        "&scope=bot+applications.commands&permissions=51200"
    )
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == ["bot applications.commands"]


def test_the_readme_gives_the_link_the_bot_logs() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert invite_url(1234567890123).replace("1234567890123", "<application id>") in readme

"""The demo's HTML reads Discord's markdown as Discord does: links, small text, bold, code, escapes."""

from __future__ import annotations

from sandbox.transcript import Transcript


def page() -> Transcript:
    t = Transcript("demo")
    t.names = {"111": "alice"}
    t.channels = {"222": "art"}
    return t


def test_links_small_text_bold_and_mentions() -> None:
    t = page()
    html = t.markup(
        "**a lighthouse** - Variations by <@111>\n"
        "-# `abc123` · V2 of `def456` · [from this grid](https://discord.com/channels/9/222/333)"
    )
    assert "<b>a lighthouse</b>" in html and '<span class="mention">@alice</span>' in html
    assert html.count('<div class="sub">') == 1
    assert "<code>abc123</code>" in html
    assert '<a href="#m333" title="https://discord.com/channels/9/222/333">from this grid</a>' in html


def test_bare_and_bracketed_links_become_anchors() -> None:
    t = page()
    html = t.markup("done — posted: https://discord.com/channels/9/222/333. See <https://example.org/a.png>")
    assert '<a href="#m333" title="https://discord.com/channels/9/222/333">#art › message</a>.' in html
    assert (
        '<a href="https://example.org/a.png" title="https://example.org/a.png">https://example.org/a.png</a>'
        in html
    )


def test_escaped_markdown_is_shown_literally_and_html_is_escaped() -> None:
    html = page().markup("a \\*\\*not bold\\*\\* <b>prompt</b> \\[fail\\]")
    assert "<b>not bold</b>" not in html and "**not bold**" in html
    assert "&lt;b&gt;prompt&lt;/b&gt;" in html and "[fail]" in html and "\\" not in html

"""The operator's texts: URL, HTML or Markdown (oneapi.web.content)."""

from __future__ import annotations

from oneapi.web import content


def test_three_forms() -> None:
    assert content.render("  ").kind == "empty"
    url = content.render(" https://status.example.com:8443/page?x=1 ")
    assert url.kind == "url" and url.url == "https://status.example.com:8443/page?x=1"
    assert url.frame_origin == "https://status.example.com:8443"
    html = content.render('<div class="x">\n\n    <p>kept</p>\n</div>')
    assert html.kind == "html" and "<pre>" not in html.html and html.frame_origin == ""
    md = content.render("# Title\n\n<span>inline html</span> and `code`")
    assert md.kind == "markdown" and "<h1>Title</h1>" in md.html and "<span>inline html</span>" in md.html


def test_not_urls() -> None:
    assert content.render("https://a.example and more text").kind == "markdown"
    assert content.render("ftp://files.example/x").kind == "markdown"
    assert content.render("javascript:alert(1)").kind == "markdown"


def test_markdown_links_cannot_run_script() -> None:
    assert "href" not in content.render("[x](javascript:alert(1))").html  # left as inert text


def test_inline_style_is_noticed() -> None:
    assert content.render('<p style="color:red">x</p>').inline_style
    assert content.render("<style>p{}</style>").inline_style
    assert not content.render("<p class=style>x</p>").inline_style
    assert not content.render("https://example.com/?style=1").inline_style

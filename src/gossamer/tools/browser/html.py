"""HTML -> the browser's page text, with each link numbered in place: `【3†link text†domain】`.

Parsed with selectolax's Lexbor engine (MIT, no dependencies, a C HTML5 parser that takes the
malformed markup real pages have). The walk below is ours because the browser needs what
text-extraction libraries drop: every link numbered where it stands, so that `open(id=3)`
follows it. It keeps headings (`#`), list items (`*`), paragraphs and table rows as lines, and
drops scripts, styles, forms and other markup that carries no reading text. Like the reference
browser, `【】` in page text become `〖〗` so they never look like links or citations.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from gossamer.tools.browser.page import Page, domain_of

_SKIP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "math",
        "head",
        "iframe",
        "object",
        "embed",
        "canvas",
        "select",
        "button",
        "input",
        "textarea",
        "form",
        "dialog",
    }
)
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "aside",
        "nav",
        "ul",
        "ol",
        "dl",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "blockquote",
        "figure",
        "figcaption",
        "address",
        "details",
        "summary",
        "hr",
        "pre",
        "body",
        "html",
        "caption",
        "fieldset",
    }
)
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_SPACE = re.compile(r"\s+")
_BRACKETS = str.maketrans({"【": "〖", "】": "〗", "†": "‡", "\u200b": None})


class _Writer:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.domain = domain_of(base_url)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.links: dict[int, str] = {}
        self._ids: dict[str, int] = {}

    def text(self, value: str) -> None:
        value = _SPACE.sub(" ", value.translate(_BRACKETS))
        if value.strip() or (self.current and value):
            self.current.append(value)

    def block(self, gap: bool = True) -> None:
        """End the current line; `gap`: a blank line separates what follows (paragraphs, not items)."""
        line = "".join(self.current).strip()
        self.current = []
        if line:
            self.lines.append(line)
        elif gap and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def raw_line(self, text: str) -> None:
        """A line of preformatted text, indentation kept."""
        self.lines.append(("".join(self.current) + text).rstrip())
        self.current = []

    def link(self, href: str, text: str) -> None:
        url = urljoin(self.base_url, href.strip())
        if not text:
            return
        if href.startswith("#") or not url.startswith(("http://", "https://", "file://")):
            self.text(text)
            return
        link_id = self._ids.get(url)
        if link_id is None:
            link_id = self._ids[url] = len(self.links)
            self.links[link_id] = url
        domain = domain_of(url)
        marker = f"【{link_id}†{text}】" if domain == self.domain else f"【{link_id}†{text}†{domain}】"
        self.current.append(marker)


def _walk(node: LexborNode, out: _Writer, pre: bool = False) -> None:
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            text = child.text_content or ""
            if pre:
                *whole, last = text.translate(_BRACKETS).split("\n")
                for part in whole:
                    out.raw_line(part)
                out.current.append(last)
            else:
                out.text(text)
            continue
        if tag in _SKIP or tag.startswith("-"):
            continue
        if tag == "a" and child.attributes.get("href"):
            label = _SPACE.sub(" ", child.text(deep=True, separator=" ").translate(_BRACKETS)).strip()
            out.link(child.attributes["href"] or "", label)
            continue
        if tag == "img":
            alt = (child.attributes.get("alt") or "").strip()
            if alt:
                out.text(f"[Image: {alt}]")
            continue
        if tag in _HEADINGS:
            out.block()
            out.current.append("#" * _HEADINGS[tag] + " ")
            _walk(child, out)
            out.block()
            continue
        if tag in ("li", "tr", "dt", "dd"):
            out.block(gap=False)
            out.current.append("* " if tag == "li" else "")
            _walk(child, out, pre)
            out.block(gap=False)
            continue
        if tag == "br":
            out.block(gap=False)
            continue
        if tag in ("td", "th"):
            out.current.append(" ")
            _walk(child, out)
            out.current.append(" |")
            continue
        if tag == "pre":
            out.block()
            _walk(child, out, pre=True)
            if out.current:
                out.raw_line("")  # its last line, indentation kept
            out.block()
            continue
        is_block = tag in _BLOCKS
        if is_block:
            out.block()
        _walk(child, out, pre or tag == "pre")
        if is_block:
            out.block()


def html_to_page(html: str, url: str, title: str | None = None) -> Page:
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    page_title = (
        title or (title_node.text(strip=True) if title_node else "") or domain_of(url) or url
    ).strip()
    out = _Writer(url)
    root = tree.body or tree.root
    if root is not None:
        _walk(root, out)
    out.block()
    while out.lines and out.lines[-1] == "":
        out.lines.pop()
    return Page(url=url, title=page_title.translate(_BRACKETS), text="\n".join(out.lines), links=out.links)


def text_to_page(text: str, url: str, title: str) -> Page:
    """Plain text or Markdown: shown as written (Markdown reads well as it is)."""
    return Page(url=url, title=title, text=text.translate(_BRACKETS).strip("\n"))

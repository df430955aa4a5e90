"""Citations in the answer, `【cursor†L9-L11】`, -> ` ([domain](url)) ` plus `url_citation` annotations.

The replacement text and the annotation are the gpt-oss reference server's (Markdown links read
well in any client; the annotation's offsets point at the replacement in the rewritten text). A
citation of a page that cannot be cited (a search results page, an unknown cursor) is left as the
model wrote it. Streaming: text that may be the start of a citation is held back until it is
complete or cannot be one, so every delta a client sees is already rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

CITATION = re.compile(r"【(?P<cursor>\d+)†(?P<content>[^†】]+)(?:†[^†】]+)?】")
PARTIAL_AT_END = re.compile(r"【\d*(?:†[^†】]*(?:†[^†】]*)?)?$")
MAX_HELD_CHARS = 256  # a `【` that opens nothing must not hold the answer back for long

Cite = Callable[[int], tuple[str, str] | None]


def replacement(url: str, title: str) -> str:
    label = urlsplit(url).netloc or title or unquote(url.rsplit("/", 1)[-1]) or "source"
    return f" ([{label}]({url})) "


@dataclass
class CitationStream:
    cite: Cite
    emitted: int = 0  # characters of rewritten text handed out so far
    annotations: list[dict[str, Any]] = field(default_factory=list)
    _held: str = ""

    def push(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        """Rewrite the next piece of answer text: (text to show now, annotations it completes)."""
        buffer = self._held + text
        self._held = ""
        partial = PARTIAL_AT_END.search(buffer)
        if partial is not None and len(buffer) - partial.start() <= MAX_HELD_CHARS:
            buffer, self._held = buffer[: partial.start()], buffer[partial.start() :]
        return self._rewrite(buffer)

    def flush(self) -> tuple[str, list[dict[str, Any]]]:
        held, self._held = self._held, ""
        return self._rewrite(held)

    def _rewrite(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        out: list[str] = []
        new: list[dict[str, Any]] = []
        last = 0
        for match in CITATION.finditer(text):
            out.append(text[last : match.start()])
            self.emitted += match.start() - last
            found = self.cite(int(match.group("cursor")))
            if found is None:
                out.append(match.group(0))
                self.emitted += len(match.group(0))
            else:
                url, title = found
                shown = replacement(url, title)
                annotation = {
                    "type": "url_citation",
                    "start_index": self.emitted,
                    "end_index": self.emitted + len(shown),
                    "url": url,
                    "title": title,
                }
                new.append(annotation)
                out.append(shown)
                self.emitted += len(shown)
            last = match.end()
        out.append(text[last:])
        self.emitted += len(text) - last
        self.annotations += new
        return "".join(out), new


def normalize(text: str, cite: Cite) -> tuple[str, list[dict[str, Any]]]:
    """The whole answer at once (the non-streamed view of CitationStream)."""
    stream = CitationStream(cite)
    shown, annotations = stream.push(text)
    rest, more = stream.flush()
    return shown + rest, annotations + more

"""Stop strings, applied to decoded text: the engine stops on token ids, users stop on text.

A stop string may span tokens, so text that could be the start of one is held back until the
next delta shows whether it is. On a match the text is cut before the stop string (OpenAI's
behaviour: the stop sequence itself is not returned).
"""

from __future__ import annotations


class StopMatcher:
    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self._held = ""
        self.stopped = False

    def push(self, text: str) -> str:
        """Feed new text; return what may be shown now (after a match: `stopped`, the rest dropped)."""
        if self.stopped:
            return ""
        buf = self._held + text
        cut = min((i for i in (buf.find(s) for s in self.stops) if i >= 0), default=None)
        if cut is not None:
            self._held, self.stopped = "", True
            return buf[:cut]
        keep = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(buf)), keep, -1):
                if buf.endswith(stop[:k]):
                    keep = k
                    break
        self._held = buf[len(buf) - keep :]
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        """The held-back text, once the output ended without completing a stop string."""
        held, self._held = self._held, ""
        return "" if self.stopped else held

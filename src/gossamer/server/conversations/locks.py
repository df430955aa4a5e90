"""One response at a time per conversation, as OpenAI's API does.

A second response started on a conversation whose turn is still running would see a context
without that turn, and their items would interleave; OpenAI refuses it with a 400
`conversation_locked`, and so do we. The lease is held from the moment the request is prepared
until its items are appended (or it fails), and is released at the latest when the request is
garbage-collected: a stream the server never started (its client left before the first byte)
must not lock the conversation for good.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field


@dataclass
class Lease:
    key: tuple[str, str]
    _locks: ConversationLocks
    _released: bool = field(default=False, init=False)

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._locks._release(self.key)

    def release_with(self, owner: object) -> None:
        """Release when `owner` is garbage-collected, if nothing released it before."""
        weakref.finalize(owner, self.release)


class ConversationLocks:
    def __init__(self) -> None:
        self._held: set[tuple[str, str]] = set()
        self._lock = threading.Lock()  # prepare runs in worker threads

    def acquire(self, tenant: str, conversation_id: str) -> Lease | None:
        """A lease on the conversation, or None while another response holds it."""
        key = (tenant, conversation_id)
        with self._lock:
            if key in self._held:
                return None
            self._held.add(key)
        return Lease(key, self)

    def _release(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._held.discard(key)

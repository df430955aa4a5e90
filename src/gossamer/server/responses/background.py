"""A background response in flight: the events it produced so far, for any number of followers.

Sequence numbers are positions in `events`, so `GET /v1/responses/{id}?stream=true&starting_after=N`
resumes exactly where a follower left off.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gossamer.server.responses.events import StreamEvent

if TYPE_CHECKING:
    from gossamer.server.responses.serving import PreparedResponse
    from gossamer.turn import Turn


@dataclass
class BackgroundRun:
    """A background response in flight: its events so far, for followers, and its task."""

    prepared: PreparedResponse
    events: list[StreamEvent] = field(default_factory=list)
    done: bool = False
    cancel_requested: bool = False
    task: asyncio.Task[None] | None = None
    turn: Turn | None = None  # once the engine has started it
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def snapshot(self) -> dict[str, Any]:
        """The response as a `GET` may see it: finished only once the run is closed.

        The builder marks the response finished before it is stored and joins its conversation,
        and the run closes after both writes, on every path (done, failed, cancelled); before
        that, a client told `completed` could read a conversation that does not hold the turn yet.
        """
        response = copy.deepcopy(self.prepared.response)
        if not self.done and response["status"] not in ("queued", "in_progress"):
            response["status"] = "in_progress"
        return response

    def push(self, event: StreamEvent) -> None:
        self.events.append(event)
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def close(self) -> None:
        self.done = True
        self._wakeup.set()

    async def follow(self, starting_after: int | None = None) -> AsyncIterator[StreamEvent]:
        """Every event from `starting_after + 1` on (sequence numbers are list positions)."""
        index = 0 if starting_after is None else starting_after + 1
        while True:
            while index < len(self.events):
                yield self.events[index]
                index += 1
            if self.done:
                return
            await self._wakeup.wait()

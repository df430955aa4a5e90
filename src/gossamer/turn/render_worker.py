"""The render pool's worker process: `python -m gossamer.turn.render_worker`.

Reads jobs from stdin and writes results to stdout, each a length-prefixed pickle: a job is
`(name, args)`, a result `(True, value)` or `(False, exception)`. A plain subprocess rather than
multiprocessing: spawning through multiprocessing re-imports the parent's main script, which a
server started from any script or test runner cannot promise to guard.
"""

from __future__ import annotations

import dataclasses
import sys
from array import array
from functools import cache

from gossamer.harmony.conversation import Conversation
from gossamer.harmony.render import RenderedPrompt
from gossamer.harmony.tokenizer import load_harmony_encoding
from gossamer.turn.frames import read_frame, write_frame


@cache
def _encoding():
    return load_harmony_encoding()


def render_job(
    conv: Conversation, max_context_length: int, truncation: bool
) -> tuple[RenderedPrompt, array, int]:
    """The rendered prompt (its ids as an array: a list of a million ints takes the server's GIL
    for long to unpickle) and how many turns truncation dropped."""
    from gossamer.turn.prompt import render_to_fit

    num_messages = len(conv.messages)
    rendered = render_to_fit(conv, _encoding(), max_context_length, truncation=truncation)
    ids = array("I", rendered.prompt_ids)
    return dataclasses.replace(rendered, prompt_ids=[]), ids, num_messages - len(conv.messages)


def encode_job(text: str) -> array:
    return array("I", _encoding().encode(text, allowed_special="all"))


JOBS = {"render": render_job, "encode": encode_job}


def main() -> None:
    _encoding()  # loaded before the first job, while the server is still starting
    jobs, results = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            name, args = read_frame(jobs)
        except EOFError:
            return  # the server closed our stdin: its end, or the pool's
        try:
            write_frame(results, (True, JOBS[name](*args)))
        except Exception as exc:  # handed back to the server, which raises it for its request
            write_frame(results, (False, exc))


if __name__ == "__main__":
    main()

"""Errors that carry a message meant for the user (no stack trace needed to act on them)."""


class GossamerError(Exception):
    """Base class for errors whose message says what went wrong and what to do."""


class CheckpointError(GossamerError):
    """A model directory, config or weight file is missing, malformed or inconsistent."""

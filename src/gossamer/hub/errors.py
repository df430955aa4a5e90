"""Errors of the model store, each with a message that says what to do."""

from gossamer.errors import GossamerError


class OfflineError(GossamerError):
    """The hub cannot be reached, or a download was cut: the message says how to go on."""


class ChecksumError(GossamerError):
    """A downloaded file does not match the hub's checksum (it has been deleted)."""

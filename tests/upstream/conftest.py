"""One fleet for the whole upstream suite: three Gossamer servers on the embedded model and a front.

Starting it costs a few seconds (three model loads in parallel); the tests share it and leave it as
they found it (the fault test brings back the replica it kills).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.upstream.fleet import Fleet, fleet


@pytest.fixture(scope="session")
def upstream_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with fleet(tmp_path_factory.mktemp("fleet")) as running:
        yield running

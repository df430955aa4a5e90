"""The browser's fetcher refuses loopback, link-local and private addresses, after DNS and on every
redirect, without a packet ever leaving: names resolve through a stub, and the transport records
every connection and refuses all but loopback ones (the allowed cases use servers on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import time

import pytest

from gossamer.tools.browser.fetch import BlockedAddress, Fetcher, FetchError, FetchLimits, parse_networks
from gossamer.tools.browser.tool import BrowserTool
from gossamer.tools.protocol import ToolCall
from tests.tools.local_http import LoopbackOnlyTransport, serve

NAMES = {
    "metadata.test": ["169.254.169.254"],
    "private.test": ["10.1.2.3"],
    "lan.test": ["192.168.1.10"],
    "cgnat.test": ["100.64.0.7"],
    "loopback.test": ["127.0.0.1"],
    "mapped.test": ["::ffff:10.0.0.1"],
    "ula.test": ["fd00::1"],
    "linklocal6.test": ["fe80::1"],
    "mixed.test": ["127.0.0.1", "10.0.0.1"],
}


async def stub_resolver(host: str, port: int) -> list[str]:
    if host not in NAMES:
        raise OSError(f"unknown test host {host}")
    return NAMES[host]


def fetcher(transport, allowed=(), **limits) -> Fetcher:
    return Fetcher(
        FetchLimits(**limits),
        allowed_networks=parse_networks(allowed),
        resolver=stub_resolver,
        transport=transport,
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://metadata.test/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "http://private.test/",
        "http://10.0.0.1/",
        "http://lan.test:8080/admin",
        "http://cgnat.test/",
        "http://loopback.test/",
        "http://127.0.0.1/",
        "http://127.1.2.3:9/",
        "http://[::1]/",
        "http://mapped.test/",
        "http://ula.test/",
        "http://linklocal6.test/",
        "http://mixed.test/",
        "http://0.0.0.0/",
    ],
)
def test_forbidden_addresses_are_refused_before_any_connection(url):
    transport = LoopbackOnlyTransport()
    with pytest.raises(BlockedAddress):
        asyncio.run(fetcher(transport).fetch(url))
    assert transport.attempts == []


def test_other_schemes_are_refused():
    transport = LoopbackOnlyTransport()
    for url in ("file:///etc/passwd", "ftp://example.test/x", "gopher://x/"):
        with pytest.raises(FetchError):
            asyncio.run(fetcher(transport).fetch(url))
    assert transport.attempts == []


@pytest.mark.parametrize(
    "target", ["http://metadata.test/latest/", "http://169.254.169.254/", "http://10.9.9.9/"]
)
def test_a_redirect_into_a_forbidden_address_is_refused(target):
    routes = {"/go": (302, {"location": target}, b"")}
    with serve(routes) as (base, received):
        transport = LoopbackOnlyTransport()
        with pytest.raises(BlockedAddress):
            asyncio.run(fetcher(transport, allowed=["127.0.0.1/32"]).fetch(base + "/go"))
    assert transport.attempts == ["127.0.0.1"] and transport.refused == []
    assert [r["path"] for r in received] == ["/go"]


def test_an_allowed_network_is_fetched_with_its_host_name():
    page = b"<html><head><title>Local</title></head><body><p>Hello from the intranet.</p></body></html>"
    routes = {"/": (200, {"content-type": "text/html; charset=utf-8"}, page)}
    with serve(routes) as (base, received):
        port = base.rsplit(":", 1)[1]
        transport = LoopbackOnlyTransport()
        fetched = asyncio.run(
            fetcher(transport, allowed=["127.0.0.0/8"]).fetch(f"http://loopback.test:{port}/")
        )
    assert fetched.body == page and "text/html" in fetched.content_type
    assert received[0]["headers"]["Host"] == f"loopback.test:{port}"  # pinned address, the host's name


def test_size_time_and_type_limits():
    big = b"<p>" + b"x" * (3 << 20) + b"</p>"

    def slow(handler):
        time.sleep(3)
        handler.send_response(200)
        handler.end_headers()

    routes = {
        "/big": (200, {"content-type": "text/html"}, big),
        "/slow": slow,
        "/zip": (200, {"content-type": "application/zip"}, b"PK"),
        "/loop": (302, {"location": "/loop"}, b""),
    }
    with serve(routes) as (base, _):
        allowed = fetcher(LoopbackOnlyTransport(), allowed=["127.0.0.1/32"], max_bytes=1 << 20, timeout_s=1.0)
        fetched = asyncio.run(allowed.fetch(base + "/big"))
        assert fetched.truncated and len(fetched.body) == 1 << 20
        with pytest.raises(FetchError, match="longer than 1 s"):
            asyncio.run(allowed.fetch(base + "/slow"))
        with pytest.raises(FetchError, match="application/zip"):
            asyncio.run(allowed.fetch(base + "/zip"))
        with pytest.raises(FetchError, match="redirects"):
            asyncio.run(allowed.fetch(base + "/loop"))


def test_the_browser_tells_the_model_it_may_not_open_private_pages(local_backend):
    transport = LoopbackOnlyTransport()
    browser = BrowserTool(local_backend, fetcher(transport))
    call = ToolCall("call_1", "browser.open", '{"id": "http://metadata.test/latest/meta-data/"}')
    result = asyncio.run(browser.run(call))
    assert result.status == "failed"
    assert "169.254.169.254" in result.output and "does not open" in result.output
    assert transport.attempts == []

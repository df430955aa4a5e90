"""What a web page must not be able to do: drive the server through DNS rebinding (a foreign Host
header), post text/plain or a form cross-site without a preflight, or send bodies beyond the
limit. Every route that runs the model, pulls or deletes is checked."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from gossamer.server.guard import HostPolicy
from gossamer.server.settings import ServerSettings
from gossamer.testing.scripted_engine import ScriptedEngine
from tests.server.conftest import MODEL_NAME, LiveApp, gpt_oss_script, start_app

CHAT = {"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
# Every route that runs the model, pulls or deletes: (method, path, JSON body).
ROUTES = [
    ("POST", "/v1/chat/completions", CHAT),
    ("POST", "/v1/completions", {"model": MODEL_NAME, "prompt": "hi", "max_tokens": 4}),
    ("POST", "/v1/responses", {"model": MODEL_NAME, "input": "hi", "max_output_tokens": 4}),
    ("POST", "/api/chat", {"model": "gpt-oss:20b", "messages": CHAT["messages"], "stream": False}),
    ("POST", "/api/generate", {"model": "gpt-oss:20b", "prompt": "hi", "stream": False}),
    ("POST", "/api/pull", {"model": "gpt-oss:20b", "stream": False}),
    ("DELETE", "/api/delete", {"model": "gpt-oss:20b"}),
    ("POST", "/tokenize", {"model": MODEL_NAME, "prompt": "hi"}),
]
ROUTE_IDS = [path for _, path, _ in ROUTES]


@pytest.fixture(scope="module")
def app():
    live = start_app(
        ScriptedEngine(gpt_oss_script, max_context_length=4096),
        ServerSettings(allowed_hosts=["gossamer.lan"], max_body_bytes=64 * 1024),
    )
    yield live
    live.stop()


def send(app: LiveApp, method: str, path: str, body: dict, **headers: str) -> httpx.Response:
    headers = {"content-type": "application/json", **headers}
    return httpx.request(method, app.url + path, content=json.dumps(body), headers=headers, timeout=30)


def error_text(response: httpx.Response, path: str) -> str:
    """The error message, checking the route's shape: Ollama's under /api, OpenAI's elsewhere."""
    body = response.json()
    if path.startswith("/api/"):
        assert isinstance(body["error"], str)
        return body["error"]
    return body["error"]["message"]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_a_foreign_host_is_refused(app, method, path, body):
    refused = send(app, method, path, body, host="evil.example")
    assert refused.status_code == 403
    assert "--allowed-hosts" in error_text(refused, path)
    rebound = send(app, method, path, body, host=f"evil.example:{app.settings.port}")
    assert rebound.status_code == 403


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "[::1]", "app.localhost", "gossamer.lan", "GOSSAMER.LAN."]
)
def test_loopback_names_and_configured_hosts_are_served(app, host):
    answer = send(app, "POST", "/v1/chat/completions", CHAT, host=f"{host}:{app.settings.port}")
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_only_json_bodies(app, method, path, body, content_type):
    # What a page can send cross-site without a CORS preflight (no Content-Type at all included).
    headers = {} if content_type is None else {"content-type": content_type}
    refused = httpx.request(method, app.url + path, content=json.dumps(body), headers=headers, timeout=30)
    assert refused.status_code == 415
    assert "application/json" in error_text(refused, path)


def test_json_with_a_charset_is_json(app):
    with_charset = {"content-type": "application/json; charset=utf-8"}
    answer = send(app, "POST", "/v1/chat/completions", CHAT, **with_charset)
    assert answer.status_code == 200


def test_bodies_beyond_the_limit_are_refused_as_they_arrive(app):
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * (65 * 1024)}]}
    declared = send(app, "POST", "/v1/chat/completions", big)
    assert declared.status_code == 413 and "--max-body-bytes" in declared.json()["error"]["message"]

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        data = json.dumps(big).encode()
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    as_json = {"content-type": "application/json"}
    streamed = httpx.post(app.url + "/api/chat", content=chunks(), headers=as_json)
    assert streamed.status_code == 413 and isinstance(streamed.json()["error"], str)
    assert send(app, "POST", "/v1/chat/completions", CHAT).status_code == 200  # and it keeps serving


def test_a_request_without_host_is_refused(app):
    # HTTP/1.0 lets a client leave Host out; nothing legitimate does.
    with socket.create_connection(("127.0.0.1", app.settings.port), timeout=10) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.0\r\n\r\n")
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    assert b" 403 " in status_line


def test_host_policy():
    loopback = HostPolicy("127.0.0.1", [])
    assert loopback.accepts("localhost:8000") and loopback.accepts("127.0.0.2")
    assert loopback.accepts("[::1]:1")
    assert not loopback.accepts("evil.example") and not loopback.accepts("192.168.1.5:8000")
    # Bound to every interface on purpose: any Host, unless the operator names the ones to answer.
    assert HostPolicy("0.0.0.0", []).accepts("192.168.1.5:8000")
    named = HostPolicy("0.0.0.0", ["box.lan"])
    assert named.accepts("box.lan:8000") and named.accepts("localhost") and not named.accepts("evil.example")
    assert HostPolicy("10.0.0.5", []).accepts("10.0.0.5:8000")  # its own bind address
    assert HostPolicy("127.0.0.1", ["*"]).accepts("anything.example")

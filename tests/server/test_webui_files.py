"""The chat page's files over HTTP: content-hashed names cached for a year, the page itself fresh
with an ETag and a strict Content-Security-Policy, gzip on the wire, no key needed to load it, and
nothing at all with --web-ui off."""

from __future__ import annotations

import re

import httpx
import pytest

from gossamer.server.settings import ServerSettings
from gossamer.server.webui.assets import build
from gossamer.testing.scripted_engine import ScriptedEngine
from tests.server.conftest import gpt_oss_script, start_app


@pytest.fixture(scope="module")
def app():
    live = start_app(ScriptedEngine(gpt_oss_script), ServerSettings(api_key="k"))
    yield live
    live.stop()


def test_the_page_and_its_files_load_without_a_key_and_cache_by_content(app):
    page = httpx.get(app.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "unsafe" not in policy
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert len(urls) >= 5
    for url in urls:
        assert re.search(r"\.[0-9a-f]{10}\.\w+$", url), url  # the content's hash in the name
        asset = httpx.get(app.url + url)
        assert asset.status_code == 200
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    again = httpx.get(app.url + "/", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304
    assert httpx.get(app.url + "/v1/models").status_code == 401  # the API still wants the key
    assert httpx.get(app.url + "/static/nope.js").status_code == 404
    assert httpx.get(app.url + "/static/../v1/models").status_code in (401, 404)


def test_files_travel_gzipped_to_browsers_that_accept_it(app):
    page = httpx.get(app.url + "/")
    script = re.search(r'src="(/static/vendor/marked/[^"]+)"', page.text).group(1)
    with httpx.stream("GET", app.url + script, headers={"Accept-Encoding": "gzip"}) as response:
        compressed = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
    plain = httpx.get(app.url + script, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(compressed) < len(plain.content) / 2


def test_module_imports_point_at_hashed_names():
    bundle = build()
    app_js = bundle.files[bundle.urls["app.js"].removeprefix("/static/")].body.decode()
    imports = re.findall(r'from "\./([^"]+)"', app_js)
    assert imports and all(name in bundle.files for name in imports)
    assert all(re.search(r"\.[0-9a-f]{10}\.js$", name) for name in imports)


def test_web_ui_off_serves_no_page():
    live = start_app(ScriptedEngine(gpt_oss_script), ServerSettings(web_ui=False))
    try:
        assert httpx.get(live.url + "/").status_code == 404
        assert httpx.get(live.url + build().urls["app.js"]).status_code == 404
        assert httpx.get(live.url + "/v1/models").status_code == 200
    finally:
        live.stop()

"""The browser: the local index, the search APIs (fake servers on 127.0.0.1), pages, views, citations."""

from __future__ import annotations

import asyncio
import json
import os

from gossamer.tools.browser.backends.exa import ExaBackend
from gossamer.tools.browser.backends.youcom import YouComBackend
from gossamer.tools.browser.citations import CitationStream, normalize
from gossamer.tools.browser.html import html_to_page
from gossamer.tools.browser.index import LocalIndex
from gossamer.tools.browser.tool import BrowserTool
from gossamer.tools.protocol import ToolCall
from tests.tools.local_http import json_route, serve


def call(browser: BrowserTool, recipient: str, **args):
    return asyncio.run(browser.run(ToolCall("c", recipient, json.dumps(args))))


def test_index_add_update_remove(tmp_path, corpus):
    index = LocalIndex(tmp_path / "i.sqlite3")
    first = index.add(corpus)
    assert (first.added, first.skipped) == (3, 0) and index.count() == 3
    again = index.add(corpus)
    assert (again.added, again.unchanged) == (0, 3)
    (corpus / "rivers.html").unlink()
    (corpus / "notes" / "bread.txt").write_text("Rye bread is dense.\n")
    os.utime(corpus / "notes" / "bread.txt", ns=(1, 1))
    third = index.add(corpus)
    assert (third.updated, third.removed, third.unchanged) == (1, 1, 1) and index.count() == 2
    assert [h.title for h in index.search("rye")] == ["bread.txt"]
    index.close()


def test_index_search_ranks_and_takes_any_text(local_index):
    hits = local_index.search("longest river France")
    assert hits[0].title == "Rivers of France" and "Loire" in hits[0].snippet
    for query in ('"unbalanced', "NEAR(a b)", "* OR AND", "title:x", "", "💥"):
        local_index.search(query)  # never an FTS5 syntax error
    page = local_index.page(hits[0].url)
    assert page.links == {0: "https://example.org/seine"} and "【0†the Seine†example.org】" in page.text


def test_search_open_find_views_and_errors(local_backend):
    browser = BrowserTool(local_backend, None)
    result = call(browser, "browser.search", query="sourdough starter")
    assert result.status == "completed" and result.output.startswith("[0] sourdough starter (search://")
    assert "L2: * 【0†bread.txt】 Sourdough bread needs a starter" in result.output
    assert result.details["action"]["sources"][0]["url"].endswith("/notes/bread.txt")
    opened = call(browser, "browser.open", id=0)
    assert opened.output.splitlines()[:2] == [
        f"[1] bread.txt ({result.details['action']['sources'][0]['url']})",
        "**viewing lines [0 - 1] of 1**",
    ]
    found = call(browser, "browser.find", pattern="FLOUR")
    assert "# 【0†match at L1】" in found.output and found.details["action"]["type"] == "find_in_page"
    scrolled = call(browser, "browser.open", cursor=1, loc=1)
    assert scrolled.output.startswith("[3] bread.txt") and "L1: The starter" in scrolled.output
    for recipient, args, message in [
        ("browser.open", {"cursor": 9, "id": 0}, "Cursor `9` is out of range"),
        ("browser.open", {"cursor": 0, "id": 7}, "Invalid link id `7`"),
        ("browser.open", {"cursor": 1, "loc": 50}, "Invalid location parameter"),
        ("browser.find", {"pattern": "x", "cursor": 0}, "Cannot run `find` on search results page"),
        ("browser.open", {"id": "https://example.org/x"}, "not among the documents"),
        ("browser.open", {"id": "file:///etc/passwd"}, "not among the documents"),
        ("browser.fly", {}, "Unknown function"),
    ]:
        failed = call(browser, recipient, **args)
        assert failed.status == "failed" and message in failed.output, (args, failed.output)
    bad_json = asyncio.run(browser.run(ToolCall("c", "browser.search", "{not json")))
    assert bad_json.status == "failed" and "not valid JSON" in bad_json.output


def test_a_view_holds_about_view_tokens(local_backend):
    browser = BrowserTool(local_backend, None, view_tokens=64)
    long_text = "\n".join(f"Line number {i} of a long page about geology." for i in range(200))
    from gossamer.tools.browser.page import Page

    browser.stack.push(Page(url="file:///long.txt", title="Long", text=long_text), {"kind": "page"})
    view = call(browser, "browser.open", cursor=0, loc=10)
    shown = [line for line in view.output.splitlines() if line.startswith("L")]
    assert shown[0].startswith("L10: ") and 3 <= len(shown) <= 8  # ~64 tokens of ~12-token lines


def test_html_keeps_structure_and_numbers_links():
    page = html_to_page(
        "<title>T</title><script>x()</script><h2>Part</h2><p>A <a href='/b'>link</a> and "
        "<a href='https://other.org/'>away</a>.</p><ul><li>one</li><li>two</li></ul><pre>a\n  b</pre>"
        "<p>【not a link】</p>",
        "https://site.org/a",
    )
    assert page.text.splitlines() == [
        "## Part",
        "",
        "A 【0†link】 and 【1†away†other.org】.",
        "",
        "* one",
        "* two",
        "",
        "a",
        "  b",
        "",
        "〖not a link〗",
    ]
    assert page.links == {0: "https://site.org/b", 1: "https://other.org/"}


def test_citations_become_links_with_annotations_whole_and_streamed():
    pages = {3: ("https://example.org/page", "Example page")}
    text = "Hekla erupted in 2000 【3†L9-L11】, says 【0†L1】 a search page."
    rewritten, annotations = normalize(text, pages.get)
    assert (
        rewritten
        == "Hekla erupted in 2000  ([example.org](https://example.org/page)) , says 【0†L1】 a search page."
    )
    (a,) = annotations
    assert rewritten[a["start_index"] : a["end_index"]] == " ([example.org](https://example.org/page)) "
    assert a == {**a, "type": "url_citation", "url": "https://example.org/page", "title": "Example page"}
    stream = CitationStream(pages.get)
    pieces = [stream.push(text[i : i + 3]) for i in range(0, len(text), 3)] + [stream.flush()]
    assert "".join(p[0] for p in pieces) == rewritten
    assert [x for p in pieces for x in p[1]] == annotations
    assert all("【3" not in p[0] for p in pieces)  # a citation is never shown half-rewritten


def test_exa_and_youcom_speak_their_apis_to_fake_servers():
    exa_answer = {
        "results": [
            {"title": "Hekla", "url": "https://volcano.example/hekla", "text": "Hekla is  a volcano."}
        ]
    }
    you_answer = {
        "results": {
            "web": [
                {"title": "Loire", "url": "https://rivers.example/loire", "snippets": ["The longest river."]}
            ],
            "news": [{"title": "Flood", "url": "https://news.example/flood", "description": "Rain."}],
        }
    }
    routes = {"/search": json_route(exa_answer), "/v1/search": json_route(you_answer)}
    with serve(routes) as (base, received):
        exa = asyncio.run(ExaBackend("exa-key", base_url=base).search("hekla", 3))
        you = asyncio.run(YouComBackend("you-key", base_url=base).search("loire", 5))
    assert [(h.url, h.snippet) for h in exa] == [("https://volcano.example/hekla", "Hekla is a volcano.")]
    assert [h.url for h in you] == ["https://rivers.example/loire", "https://news.example/flood"]
    exa_request, you_request = received
    assert exa_request["method"] == "POST" and exa_request["headers"]["x-api-key"] == "exa-key"
    assert (
        json.loads(exa_request["body"])["query"] == "hekla"
        and json.loads(exa_request["body"])["numResults"] == 3
    )
    assert you_request["method"] == "GET" and you_request["headers"]["X-API-Key"] == "you-key"
    assert you_request["path"] == "/v1/search?query=loire&count=5"


def test_a_search_api_error_reaches_the_model():
    with serve({"/search": (401, {"content-type": "application/json"}, b'{"error": "bad key"}')}) as (
        base,
        _,
    ):
        browser = BrowserTool(ExaBackend("wrong", base_url=base), None)
        result = call(browser, "browser.search", query="x")
    assert result.status == "failed" and "Exa answered HTTP 401" in result.output


def test_a_restored_stack_remakes_pages_only_when_used(local_backend):
    first = BrowserTool(local_backend, None)
    call(first, "browser.search", query="volcanoes Iceland")
    opened = call(first, "browser.open", id=0)
    records = [first.stack.record(0), first.stack.record(1)]
    later = BrowserTool(local_backend, None)
    later.restore(records)
    assert later.cite(1) == first.cite(1) and later.stack.peek(1) is None  # cited without loading
    found = call(later, "browser.find", pattern="hekla", cursor=1)
    assert found.status == "completed" and "Hekla erupted" in found.output
    assert opened.output.splitlines()[0].startswith("[1] Volcanoes of Iceland")

"""`gossamer index add PATH` and `gossamer index search QUERY`: the browser's offline search index."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gossamer.errors import GossamerError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="the browser tool's local search index (documents on this machine)")
    p.add_argument(
        "--index",
        default=None,
        help="the index file (default: browser-index.sqlite3 in the data "
        "directory; the server's --browser-index)",
    )
    actions = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", help="index (or re-index) the HTML, Markdown, text and PDF files under PATH"
    )
    add.add_argument("paths", nargs="+", metavar="PATH")
    add.set_defaults(func=cmd_add)
    search = actions.add_parser("search", help="search the index as the browser would")
    search.add_argument("query")
    search.add_argument("-n", type=int, default=10, help="results to show (default 10)")
    search.set_defaults(func=cmd_search)


def _open(args: argparse.Namespace):
    from gossamer.tools.browser.index import LocalIndex, default_index_path

    path = Path(args.index) if args.index else default_index_path()
    try:
        return LocalIndex(path)
    except Exception as exc:
        raise GossamerError(f"cannot open the index {path}: {exc}") from exc


def cmd_add(args: argparse.Namespace) -> int:
    index = _open(args)
    interactive = sys.stderr.isatty()
    try:
        for raw in args.paths:
            root = Path(raw).expanduser()
            if not root.exists():
                raise GossamerError(f"{root} does not exist")

            def progress(done: int, total: int, path: Path) -> None:
                # A line per file when logged; one line rewritten in place on a terminal.
                line = f"indexing {done}/{total}: {path}"
                if interactive:
                    print(
                        f"\r\033[K{line[:150]}", end="" if done < total else "\n", file=sys.stderr, flush=True
                    )
                else:
                    print(line, file=sys.stderr, flush=True)

            report = index.add(root, progress)
            print(
                f"{root}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
                f"{report.removed} removed, {report.skipped} skipped; the index {index.path} holds "
                f"{index.count()} documents"
            )
    finally:
        index.close()
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    index = _open(args)
    try:
        hits = index.search(args.query, args.n)
    finally:
        index.close()
    for hit in hits:
        print(f"{hit.title}\n  {hit.url}\n  {hit.snippet}")
    if not hits:
        print("no results")
    return 0

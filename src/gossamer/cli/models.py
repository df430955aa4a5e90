"""`gossamer pull | list | show | rm | ps`: the model store from the command line."""

from __future__ import annotations

import argparse
import os
import sys

from gossamer.cli.format import human_bytes, human_count, table
from gossamer.errors import GossamerError

DEFAULT_HOST = "http://127.0.0.1:8000"


def server_url() -> str:
    """`GOSSAMER_HOST` (Ollama's OLLAMA_HOST habit): a URL or host:port of a running server."""
    raw = os.environ.get("GOSSAMER_HOST", "").strip() or DEFAULT_HOST
    if "://" not in raw:
        raw = "http://" + raw
    return raw.rstrip("/")


def cmd_pull(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from gossamer.hub import PullProgress, pull_model

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=False,
        disable=not sys.stderr.isatty(),
    ) as progress:
        tasks: dict[str, int] = {}

        def on_progress(p: PullProgress) -> None:
            if p.status not in ("downloading", "verifying"):  # one-off steps: no bar
                return
            if p.status not in tasks:
                tasks[p.status] = progress.add_task(p.status, total=p.total or None)
            progress.update(tasks[p.status], completed=p.completed, total=p.total or None)

        path = pull_model(args.model, layout=args.layout, revision=args.revision, on_progress=on_progress)
    print(f"{args.model}: ready in {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from gossamer.hub import list_models

    entries = list_models()
    rows = [
        [
            e.name,
            e.source,
            e.layout,
            human_bytes(e.size_bytes),
            "ready" if e.complete else "incomplete",
            str(e.path),
        ]
        for e in entries
    ]
    print(table(rows, ["NAME", "SOURCE", "LAYOUT", "SIZE", "STATUS", "PATH"]))
    for e in entries:
        if e.problem:
            print(f"  {e.name}: {e.problem}", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from gossamer.hub import describe_model, model_display_name, resolve_model

    summary = describe_model(resolve_model(args.model))
    c = summary.config
    print(f"model          {model_display_name(args.model)}")
    print(f"path           {summary.path}")
    print(f"layout         {summary.layout}")
    total, active = human_count(summary.num_params), human_count(summary.num_active_params)
    print(f"parameters     {total} total, {active} active")
    print(f"quantization   {summary.quantization}")
    yarn = f"{c.initial_context_length} x YaRN {c.rope_scaling_factor:g}"
    print(f"context        {c.max_context_length} tokens ({yarn})")
    print(f"layers         {c.num_layers} (sliding window {c.sliding_window} on every other layer)")
    print(f"experts        {c.num_experts}, {c.experts_per_token} per token")
    print(f"attention      {c.num_heads} heads, {c.num_kv_heads} KV heads, head dim {c.head_dim}")
    print(f"hidden         {c.hidden_size}, expert intermediate {c.intermediate_size}, vocab {c.vocab_size}")
    print(f"size on disk   {human_bytes(summary.size_bytes)}")
    if args.tensors:
        rows = [[p, d, "x".join(map(str, s)), str(n)] for p, d, s, n in summary.tensor_groups]
        print()
        print(table(rows, ["TENSOR", "DTYPE", "SHAPE", "COUNT"]))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from gossamer.hub import plan_removal, remove_model

    plans = [plan_removal(name) for name in args.models]  # refuse before deleting anything
    deletions = [p for p in plans if not p.unregister]
    if deletions and not args.yes:
        for plan in deletions:
            print(f"{plan.describe()} ({human_bytes(plan.size_bytes)})")
        if not sys.stdin.isatty():
            raise GossamerError("not deleting without confirmation: run it in a terminal or pass --yes")
        answer = input("Delete? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing deleted")
            return 1
    for name in args.models:
        print(remove_model(name))
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    import httpx

    url = server_url()
    try:
        key = os.environ.get("GOSSAMER_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = httpx.get(f"{url}/api/ps", headers=headers, timeout=5)
    except httpx.HTTPError as exc:
        raise GossamerError(
            f"no gossamer server answers at {url} ({exc}); start one with `gossamer serve`"
        ) from exc
    if response.status_code != 200:
        raise GossamerError(f"the server at {url} answered {response.status_code}: {response.text[:200]}")
    rows = []
    for m in response.json().get("models", []):
        details = m.get("details") or {}
        rows.append(
            [
                m.get("name", "?"),
                human_bytes(int(m.get("size", 0))),
                human_bytes(int(m.get("size_vram", 0))),
                str(m.get("context_length", "")),
                details.get("quantization_level", ""),
            ]
        )
    print(table(rows, ["NAME", "SIZE", "GPU MEMORY", "CONTEXT", "QUANTIZATION"]))
    return 0

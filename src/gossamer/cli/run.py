"""`gossamer run [MODEL] [PROMPT]`: pick a server (the running one, or a private in-process one) and chat."""

from __future__ import annotations

import argparse
import os
import sys

from gossamer.cli.chat import ChatSession, interactive, one_shot
from gossamer.cli.chat_client import ChatClient, served_models, server_is_up
from gossamer.cli.models import server_url
from gossamer.errors import GossamerError


def _split_words(words: list[str]) -> tuple[str | None, str | None]:
    """`[MODEL] [PROMPT...]`: the first word is a model when it names one, else the prompt starts there."""
    from gossamer.hub import UnknownModel, parse_model_name

    if not words:
        return None, None
    try:
        parse_model_name(words[0])
    except UnknownModel:
        return None, " ".join(words)
    return words[0], (" ".join(words[1:]) or None)


def _same_model(a: str, b: str) -> bool:
    from gossamer.server.state import normalize_model_name

    return normalize_model_name(a) == normalize_model_name(b)


def cmd_run(args: argparse.Namespace) -> int:
    model, prompt = _split_words(args.words)
    if not sys.stdin.isatty():
        piped = sys.stdin.read().strip()
        if piped:
            prompt = f"{prompt}\n\n{piped}" if prompt else piped
    options = {
        k: v
        for k, v in (
            ("temperature", args.temperature),
            ("top_p", args.top_p),
            ("seed", args.seed),
            ("num_predict", args.num_predict),
        )
        if v is not None
    }

    url = server_url()
    api_key = os.environ.get("GOSSAMER_API_KEY")
    private = None
    served_name: str | None = None
    if not args.local and server_is_up(url, api_key):
        names = served_models(url, api_key)
        if model is None and names:
            served_name = names[0]
        elif model is not None:
            served_name = next((n for n in names if _same_model(n, model)), None)
            if served_name is None:
                print(
                    f"note: the server at {url} serves {', '.join(names) or 'nothing'}, not {model}; "
                    "running it in this process",
                    file=sys.stderr,
                )
    if served_name is None:
        from gossamer.cli.private_server import start_private_server
        from gossamer.hub import model_display_name, resolve_model

        path = None
        if model is not None:
            path = str(resolve_model(model))  # says what to do when missing or half-downloaded
        private = start_private_server(
            path,
            served_model_name=model_display_name(model) if model else None,
            device=os.environ.get("GOSSAMER_DEVICE", "cpu"),
            dtype=os.environ.get("GOSSAMER_DTYPE", "bfloat16"),
        )
        url = private.url
        served_name = served_models(url)[0]

    client = ChatClient(url, served_name, api_key=api_key if private is None else None)
    session = ChatSession(
        client,
        effort=args.effort,
        show_thinking=not args.hide_thinking,
        show_stats=args.stats,
        options=options,
    )
    try:
        if prompt is not None:
            return one_shot(session, prompt)
        if not sys.stdin.isatty():
            raise GossamerError("no prompt: give one as an argument or on stdin")
        return interactive(session, served_name)
    finally:
        client.close()
        if private is not None:
            private.stop()

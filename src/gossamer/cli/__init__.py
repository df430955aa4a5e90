"""The `gossamer` command: pull, list, show, rm, ps, serve, run and index.

Every command reports bad input (unknown model, port in use, bad flag values, no network, a
half-downloaded model) as one clear line on stderr and a non-zero exit code, never a stack trace.
"""

from __future__ import annotations

import argparse
import logging
import sys

from gossamer.errors import GossamerError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    from gossamer.server.settings import add_arguments

    add_arguments(parser, model_positional=True)


def build_parser() -> argparse.ArgumentParser:
    from gossamer.cli import models, run, serve

    parser = argparse.ArgumentParser(prog="gossamer", description="Run OpenAI's gpt-oss models locally.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("pull", help="download a model into the Hugging Face cache (or register a directory)")
    p.add_argument("model", help="gpt-oss-20b, gpt-oss-120b, a Hugging Face repo id, or a local directory")
    p.add_argument(
        "--layout",
        choices=("hf", "original"),
        default="hf",
        help="which copy of the weights to fetch (default: hf, the repo root)",
    )
    p.add_argument("--revision", default="main", help="branch, tag or commit of the repo")
    p.set_defaults(func=models.cmd_pull)

    p = sub.add_parser("list", aliases=["ls"], help="list embedded, downloaded and registered models")
    p.set_defaults(func=models.cmd_list)

    p = sub.add_parser("show", help="a model's shapes, parameters, quantization and context length")
    p.add_argument("model")
    p.add_argument("--tensors", action="store_true", help="also list the tensors")
    p.set_defaults(func=models.cmd_show)

    p = sub.add_parser("rm", help="delete a downloaded model (or forget a registered directory)")
    p.add_argument("models", nargs="+", metavar="MODEL")
    p.add_argument("-y", "--yes", action="store_true", help="delete without asking")
    p.set_defaults(func=models.cmd_rm)

    p = sub.add_parser("ps", help="models loaded by the running server (GOSSAMER_HOST)")
    p.set_defaults(func=models.cmd_ps)

    p = sub.add_parser("serve", help="serve a model over the OpenAI and Ollama APIs")
    _add_serve_arguments(p)
    p.set_defaults(func=serve.cmd_serve)

    p = sub.add_parser("run", help="chat with a model in the terminal, or answer one prompt")
    p.add_argument(
        "words",
        nargs="*",
        metavar="[MODEL] [PROMPT]",
        help="a model name (default: the running server's model, else gossamer-tiny), then a prompt",
    )
    p.add_argument(
        "--think",
        "--effort",
        dest="effort",
        choices=("low", "medium", "high"),
        default="medium",
        help="reasoning effort (default: medium)",
    )
    p.add_argument("--hide-thinking", action="store_true", help="do not show the chain of thought")
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--num-predict", type=int, default=None, help="the most tokens to generate per answer")
    p.add_argument("--stats", action="store_true", help="print tokens and speed after each answer")
    p.add_argument("--local", action="store_true", help="run in this process even when a server is up")
    p.set_defaults(func=run.cmd_run)

    from gossamer.cli import index

    index.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # A chat's output is the conversation: library warnings (e.g. a repaired harmony header) stay out
    # of it unless -v asks for them.
    quiet = logging.ERROR if args.command == "run" else logging.WARNING
    level = logging.INFO if args.verbose else quiet
    # A server's log wants timestamps; the other commands' messages are read as they come.
    when = "%(asctime)s " if args.command == "serve" else ""
    logging.basicConfig(level=level, format=when + "%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except GossamerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `gossamer list | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())

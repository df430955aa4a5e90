"""`gossamer run`: an interactive terminal chat, or a one-shot answer for a prompt argument or piped stdin.

Chain of thought streams dimmed and set apart from the answer (hidden with `--hide-thinking` or
`/think`); `/effort` changes the reasoning level between turns. Input lines opening with `\"\"\"`
start a multi-line message that ends at a line closing with `\"\"\"`.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from gossamer.cli.chat_client import ChatClient
from gossamer.errors import GossamerError

EFFORTS = ("low", "medium", "high")

HELP = """\
Commands:
  /effort [low|medium|high]   show or set the reasoning effort
  /think                      show or hide the chain of thought
  /reset                      forget the conversation so far
  /save FILE                  save the conversation as JSON
  /load FILE                  load a conversation saved with /save
  /help                       this text
  /bye                        leave (Ctrl-D works too)
Start a message with \"\"\" to write several lines; end it with \"\"\"."""


@dataclass
class ChatSession:
    client: ChatClient
    effort: str = "medium"
    show_thinking: bool = True
    show_stats: bool = False
    options: dict = field(default_factory=dict)
    messages: list[dict] = field(default_factory=list)

    def ask(self, text: str, out: Console, *, answer_only: bool = False) -> str:
        """Send one user message, stream the reply to `out`; return the answer text."""
        self.messages.append({"role": "user", "content": text})
        thinking, answer = [], []
        in_thinking = False
        last = None
        try:
            for chunk in self.client.stream(self.messages, self.effort, self.options):
                last = chunk
                if chunk.thinking:
                    thinking.append(chunk.thinking)
                    if self.show_thinking and not answer_only:
                        if not in_thinking:
                            out.print("Thinking...", style="dim italic", markup=False, highlight=False)
                            in_thinking = True
                        out.print(chunk.thinking, style="dim", end="", markup=False, highlight=False)
                if chunk.content:
                    if in_thinking:
                        out.print(
                            "\n" + "...done thinking.\n", style="dim italic", markup=False, highlight=False
                        )
                        in_thinking = False
                    answer.append(chunk.content)
                    out.print(chunk.content, end="", markup=False, highlight=False, soft_wrap=True)
                    out.file.flush()
        except BaseException:
            self.messages.pop()  # the turn did not happen
            raise
        out.print()
        if self.show_stats and not answer_only and last is not None and last.done:
            rate = last.num_output_tokens / last.duration_s if last.duration_s else 0.0
            out.print(f"{last.num_output_tokens} tokens, {rate:.1f} tokens/s", style="dim", markup=False)
        reply = {"role": "assistant", "content": "".join(answer)}
        if thinking:
            reply["thinking"] = "".join(thinking)
        self.messages.append(reply)
        return reply["content"]

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                {"model": self.client.model, "effort": self.effort, "messages": self.messages}, indent=2
            )
        )

    def load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
            messages = data["messages"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise GossamerError(f"cannot load {path}: {exc}") from exc
        if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
            raise GossamerError(f"cannot load {path}: 'messages' is not a list of messages")
        self.messages = messages
        if data.get("effort") in EFFORTS:
            self.effort = data["effort"]


def _history_file() -> Path:
    from gossamer.hub.store import gossamer_home

    return gossamer_home() / "history"


def _setup_readline() -> None:
    try:
        import readline
    except ImportError:  # not on every platform; input() still works
        return
    path = _history_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            readline.read_history_file(path)
    except OSError:
        pass
    readline.set_history_length(1000)
    import atexit

    def save() -> None:
        with contextlib.suppress(OSError):
            readline.write_history_file(path)

    atexit.register(save)


def _read_message(prompt: str) -> str | None:
    """One user message (several lines between triple quotes); None at end of input."""
    try:
        line = input(prompt)
    except EOFError:
        return None
    if not line.lstrip().startswith('"""'):
        return line
    first = line.lstrip()[3:]
    if first.rstrip().endswith('"""') and first.strip():
        return first.rstrip()[:-3]
    lines = [first] if first else []
    while True:
        try:
            more = input("... ")
        except EOFError:
            return "\n".join(lines)
        if more.rstrip().endswith('"""'):
            lines.append(more.rstrip()[:-3])
            return "\n".join(lines).strip("\n")
        lines.append(more)


def _command(session: ChatSession, line: str, out: Console) -> bool:
    """Handle a slash command; return False when the user leaves."""
    name, _, arg = line.strip().partition(" ")
    arg = arg.strip()
    match name:
        case "/bye" | "/exit" | "/quit":
            return False
        case "/help" | "/?":
            out.print(HELP, markup=False, highlight=False)
        case "/effort":
            if not arg:
                out.print(f"reasoning effort: {session.effort}", markup=False)
            elif arg in EFFORTS:
                session.effort = arg
                out.print(f"reasoning effort set to {arg}", markup=False)
            else:
                out.print(f"unknown effort '{arg}': use low, medium or high", style="red", markup=False)
        case "/think":
            session.show_thinking = not session.show_thinking
            out.print(
                "showing the chain of thought" if session.show_thinking else "hiding the chain of thought",
                markup=False,
            )
        case "/reset" | "/clear":
            session.messages.clear()
            out.print("conversation cleared", markup=False)
        case "/save" | "/load":
            if not arg:
                out.print(f"usage: {name} FILE", style="red", markup=False)
            else:
                path = Path(arg).expanduser()
                try:
                    if name == "/save":
                        session.save(path)
                        out.print(f"saved {len(session.messages)} messages to {path}", markup=False)
                    else:
                        session.load(path)
                        out.print(f"loaded {len(session.messages)} messages from {path}", markup=False)
                except (GossamerError, OSError) as exc:
                    out.print(str(exc), style="red", markup=False)
        case _:
            out.print(f"unknown command {name}: type /help", style="red", markup=False)
    return True


def interactive(session: ChatSession, model_name: str) -> int:
    # Ctrl-C stops an answer or clears the line. Python keeps an inherited SIG_IGN for SIGINT
    # (a shell that ran us under nohup or setsid, a CI runner), which would make Ctrl-C do nothing,
    # so take SIGINT explicitly. Only here: reading the terminal means we are its foreground job,
    # whereas a one-shot run in the background may have been told to ignore Ctrl-C on purpose.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    out = Console(highlight=False, emoji=False)  # model text is shown as written
    _setup_readline()
    out.print(
        f"{model_name} (effort {session.effort}). Type /help for commands, /bye to leave.",
        style="dim",
        markup=False,
    )
    while True:
        try:
            text = _read_message(">>> ")
        except KeyboardInterrupt:  # as in Ollama: Ctrl-C clears the line, it does not quit
            out.print("\nUse Ctrl-D or /bye to leave.", style="dim", markup=False)
            continue
        if text is None:
            out.print()
            return 0
        if not text.strip():
            continue
        if text.lstrip().startswith("/") and "\n" not in text:
            if not _command(session, text, out):
                return 0
            continue
        try:
            session.ask(text, out)
        except KeyboardInterrupt:
            out.print("\n(interrupted)", style="dim", markup=False)
        except GossamerError as exc:
            out.print(f"error: {exc}", style="red", markup=False)
        out.print()


def one_shot(session: ChatSession, prompt: str) -> int:
    out = Console(file=sys.stdout, highlight=False, emoji=False, soft_wrap=True)
    session.ask(prompt, out, answer_only=True)
    return 0

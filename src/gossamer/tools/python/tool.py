"""The `python` tool: the model's code in a fresh sandbox per call; stdout (and errors) come back.

Described to the model as the gpt-oss reference describes its stateless runner (not harmony's
default text, which promises a stateful Jupyter notebook and a /mnt/data drive that do not exist
here), with this server's limits.
"""

from __future__ import annotations

import logging

from gossamer.harmony.conversation import ToolNamespace
from gossamer.tools.protocol import ToolCall, ToolResult
from gossamer.tools.python.sandbox import BwrapSandbox, RunResult

logger = logging.getLogger(__name__)


def description(wall_s: float) -> str:
    return (
        "Use this tool to execute Python code in your chain of thought. The code will not be shown to "
        "the user. This tool should be used for internal reasoning, but not for code that is intended "
        "to be visible to the user (e.g. when creating plots, tables, or files).\n"
        "When you send a message containing python code to python, it will be executed in a stateless "
        "sandbox, and the stdout of that process will be returned to you. You have to use print "
        f"statements to access the output. It has no internet access and times out after {wall_s:g} "
        "seconds."
    )


class PythonTool:
    name = "python"

    def __init__(self, sandbox: BwrapSandbox) -> None:
        self.sandbox = sandbox

    def namespace(self) -> ToolNamespace:
        return ToolNamespace(self.name, description(self.sandbox.limits.wall_s))

    async def run(self, call: ToolCall) -> ToolResult:
        if call.function:
            return ToolResult.failure(
                f"`python` has no function `{call.function}`: send the code to `python`."
            )
        code = strip_fences(call.arguments)
        result = await self.sandbox.run(code)
        logger.info(
            "python: %.0f ms, exit %s%s",
            result.duration_s * 1000,
            result.exit_code,
            f", {result.signal_name}" if result.signal_name else "",
        )
        output, error = self._describe(result)
        details = {
            "code": code,
            "logs": output,
            "exit_code": result.exit_code,
            "duration_ms": round(result.duration_s * 1000, 1),
        }
        if error is not None:
            return ToolResult(output=output, status="failed", details={**details, "error": error})
        return ToolResult(output=output, details=details)

    def _describe(self, result: RunResult) -> tuple[str, str | None]:
        """The tool message, and the error that ended the run (None: it ran to the end cleanly)."""
        limits = self.sandbox.limits
        text = result.stdout
        if result.stderr:
            text += ("\n" if text and not text.endswith("\n") else "") + result.stderr
        error = None
        if result.timed_out:
            error = f"the code ran past the time limit of {limits.wall_s:g} s and was stopped"
        elif result.output_capped:
            error = f"the code printed more than {limits.max_output_bytes} bytes and was stopped; print less"
        elif result.signal_name == "SIGXCPU" or (result.signal_name == "SIGKILL" and not result.stderr):
            error = f"the code used more than {limits.cpu_s} s of CPU time and was stopped"
        elif result.signal_name is not None:
            error = f"the code was killed by {result.signal_name}"
        elif result.exit_code:
            last = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.exit_code}"]
            error = last[0]
        if error is not None and not (result.exit_code and result.stderr):
            text += ("\n" if text and not text.endswith("\n") else "") + f"Error: {error}."
        return text, error


def strip_fences(code: str) -> str:
    """Code wrapped in a Markdown fence (a model's habit from chat answers) runs without it."""
    stripped = code.strip()
    if stripped.startswith("```") and stripped.endswith("```") and stripped.count("\n") >= 1:
        body = stripped[3:-3]
        return body.split("\n", 1)[1] if "\n" in body else ""
    return code

// One conversation's turns: send, stop, regenerate and edit, all through the public APIs.
//
// A turn is a background Responses request on the conversation, streamed: the server keeps
// generating if the page goes away, Stop is POST /v1/responses/{id}/cancel (the engine aborts),
// and a reload follows a still-running response to its end (GET /v1/responses/{id}?stream=true).
// The server appends each turn's items to the conversation before the stream ends, so the page
// reloads the items afterwards rather than keeping its own copy of the truth. With demo tools on,
// the page answers the model's calls itself and sends the results back, until the model answers.

import { api } from "./api.js";
import { DEMO_TOOLS, runDemoTool } from "./demo_tools.js";
import { settings } from "./settings.js";

const MAX_TOOL_ROUNDS = 8;
// The server's built-in tools as Responses hosted tools; a server that does not run one says so (400).
export const BUILTIN_TOOLS = {
  web_search: { type: "web_search" },
  code_interpreter: { type: "code_interpreter", container: { type: "auto" } },
};
const TERMINAL = new Set(["response.completed", "response.incomplete", "response.failed"]);
const STOP_GRACE_MS = 5000;

export function titleFrom(text) {
  const line = text.trim().split("\n")[0].replace(/\s+/g, " ");
  return line.length > 60 ? `${line.slice(0, 57)}…` : line || "New conversation";
}

export class Chat {
  constructor(options) {
    // transcript, model(), effort(), announce(text), and the app's callbacks: onBusy, onConversation,
    // onError, onToolRefused, onUnsent
    Object.assign(this, options);
    this.conversationId = null;
    this.items = [];
    this.current = null; // the response being streamed: {controller, responseId, stopRequested}
    this.busy = false;
  }

  // -- which conversation -----------------------------------------------------------------------

  clear() {
    this.conversationId = null;
    this.items = [];
    this.transcript.clear();
    this.refreshControls();
  }

  async open(id) {
    this.conversationId = id;
    this.items = await api.items(id);
    if (this.conversationId !== id) return; // another one was opened meanwhile
    this.transcript.render(this.items);
    this.refreshControls();
    this.resume(id).catch((error) => this.onError(error)); // not awaited: the page is ready meanwhile
  }

  /** A response still running for this conversation (the page was reloaded mid-answer): follow it. */
  async resume(id) {
    const responseId = settings.running(id);
    if (!responseId || this.busy) return;
    let response;
    try {
      response = await api.response(responseId);
    } catch {
      response = null;
    }
    if (!response || !["queued", "in_progress"].includes(response.status)) {
      settings.setRunning(id, null);
      return;
    }
    const input = await api.inputItems(responseId).catch(() => ({ data: [] }));
    for (const item of input.data) {
      if (item.type === "message" && item.role === "user") {
        this.transcript.appendUser(item.content.map((part) => part.text).join(""));
      }
    }
    await this.runTurn(null, { follow: responseId });
  }

  // -- turns ------------------------------------------------------------------------------------

  async send(text) {
    if (this.busy || !text.trim()) return false;
    if (this.conversationId === null) {
      const conversation = await api.createConversation({ title: titleFrom(text) });
      this.conversationId = conversation.id;
      this.onConversation(conversation);
    }
    this.transcript.appendUser(text);
    await this.runTurn([{ type: "message", role: "user", content: text }]);
    return true;
  }

  async regenerate() {
    if (this.busy) return;
    const lastUser = this.items.findLastIndex((item) => item.type === "message" && item.role === "user");
    await this.dropFrom(lastUser + 1);
    this.transcript.render(this.items);
    await this.runTurn(null);
  }

  async edit(text) {
    if (this.busy || !text.trim()) return;
    const lastUser = this.items.findLastIndex((item) => item.type === "message" && item.role === "user");
    await this.dropFrom(Math.max(lastUser, 0));
    this.transcript.render(this.items);
    await this.send(text);
  }

  /** Delete the conversation's items from `index` on (newest first: an interrupted drop stays coherent). */
  async dropFrom(index) {
    for (const item of this.items.slice(index).reverse()) {
      try {
        await api.deleteItem(this.conversationId, item.id);
      } catch (error) {
        if (error.status !== 404) throw error;
      }
    }
    this.items = this.items.slice(0, index);
  }

  async stop() {
    const current = this.current;
    if (!current || current.stopRequested) return;
    current.stopRequested = true;
    this.announce("Stopping");
    if (current.responseId) await this.cancel(current);
    // The cancelled stream ends by itself; if the server does not end it, stop reading it.
    setTimeout(() => current.controller.abort(), STOP_GRACE_MS);
  }

  async cancel(current) {
    try {
      await api.cancel(current.responseId);
    } catch (error) {
      if (error.status !== 400) this.onError(error); // 400: it had already finished
    }
  }

  /** Stream responses into one assistant block until the model answers (or stops, or fails). */
  async runTurn(input, { follow = null } = {}) {
    const conversationId = this.conversationId;
    const userText = input?.[0]?.role === "user" ? input[0].content : null;
    const numItemsBefore = this.items.length;
    let failure = null;
    this.setBusy(true);
    const view = this.transcript.beginAssistant();
    try {
      for (let round = 0; round <= MAX_TOOL_ROUNDS; round++) {
        view.beginResponse();
        const response = await this.stream(view, input, round === 0 ? follow : null);
        if (!response) break;
        if (response.status === "failed") failure = describe(response);
        if (response.status !== "completed") {
          view.notice(describe(response), response.status === "failed");
          break;
        }
        input = this.answerCalls(view, response);
        if (!input) break;
      }
    } catch (error) {
      if (error.name !== "AbortError") {
        failure = error.message;
        view.notice(failure, true);
        this.onError(error, { quiet: true });
      }
      if (error.code === "unsupported_tool_type") this.onToolRefused();
    } finally {
      view.finish();
      this.current = null;
      if (this.conversationId === conversationId) {
        this.items = await api.items(conversationId).catch(() => this.items);
        // A failed turn joined nothing: show the conversation as it is, say why, and give the text
        // back, so Edit and Regenerate act on what the server holds and the message can be resent.
        if (failure && this.items.length === numItemsBefore) {
          this.transcript.render(this.items);
          this.transcript.notice(failure);
          if (userText) this.onUnsent(userText);
        }
      }
      this.setBusy(false);
      this.announce("Answer finished");
    }
  }

  /** One response's events into `view`; the final response object, or null if the stream broke. */
  async stream(view, input, followId) {
    const controller = new AbortController();
    const current = { controller, responseId: followId, stopRequested: false };
    this.current = current;
    const tools = [
      ...(settings.demoTools() ? DEMO_TOOLS : []),
      ...Object.keys(BUILTIN_TOOLS).filter(settings.builtinTool).map((type) => BUILTIN_TOOLS[type]),
    ];
    const events = followId
      ? api.followResponse(followId, { signal: controller.signal })
      : api.createResponse(
          {
            model: this.model(),
            conversation: this.conversationId,
            ...(input ? { input } : {}),
            ...(tools.length ? { tools } : {}),
            reasoning: { effort: this.effort() },
            background: true,
            stream: true,
          },
          { signal: controller.signal },
        );
    let final = null;
    for await (const event of events) {
      if (event.type === "response.created" || event.type === "response.queued") {
        current.responseId = event.response.id;
        settings.setRunning(this.conversationId, current.responseId);
        if (current.stopRequested) this.cancel(current);
      } else if (event.type === "error") {
        throw new Error(event.error?.message || event.message || "The server failed while answering.");
      }
      view.apply(event);
      this.transcript.scrollToEnd();
      if (TERMINAL.has(event.type)) final = event.response;
    }
    // Forgotten only once it ended: a stream cut by a reload leaves it, so the reload can follow.
    if (final) settings.setRunning(this.conversationId, null);
    return final; // a Stop that came after the end leaves it "completed": the page says what happened
  }

  /** The function_call_output items for the demo tools' calls in `response`, or null if none. */
  answerCalls(view, response) {
    if (!settings.demoTools() || this.current?.stopRequested) return null;
    const calls = response.output.filter((item) => item.type === "function_call");
    if (calls.length === 0) return null;
    return calls.map((call) => {
      const output = runDemoTool(call.name, call.arguments);
      view.toolResult(call.call_id, output);
      return { type: "function_call_output", call_id: call.call_id, output };
    });
  }

  setBusy(busy) {
    this.busy = busy;
    this.onBusy(busy);
    this.refreshControls();
  }

  refreshControls() {
    this.transcript.setControls({
      busy: this.busy || this.items.length === 0,
      onEdit: (node) => this.beginEdit(node),
      onRegenerate: () => this.regenerate().catch((error) => this.onError(error)),
    });
  }

  beginEdit(node) {
    const bubble = node.querySelector(".bubble");
    const original = bubble.textContent;
    const box = document.createElement("div");
    box.className = "edit-box";
    const area = document.createElement("textarea");
    area.value = original;
    area.setAttribute("aria-label", "Edit your message");
    const row = document.createElement("div");
    row.className = "row";
    const cancel = button("Cancel", "button subtle");
    const save = button("Send", "button primary");
    row.append(cancel, save);
    box.append(area, row);
    node.replaceChildren(box);
    area.focus();
    const restore = () => {
      this.transcript.render(this.items);
      this.refreshControls();
    };
    const submit = () => this.edit(area.value).catch((error) => this.onError(error));
    cancel.addEventListener("click", restore);
    save.addEventListener("click", submit);
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") restore();
      else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
  }
}

function button(label, className) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = className;
  node.textContent = label;
  return node;
}

function describe(response) {
  switch (response.status) {
    case "cancelled":
      return "Stopped.";
    case "incomplete":
      return `The answer was cut short (${response.incomplete_details?.reason || "incomplete"}).`;
    case "failed":
      return `The answer failed: ${response.error?.message || "unknown error"}`;
    default:
      return response.status;
  }
}

// The messages pane: stored items drawn once, and a live turn drawn event by event as it streams.
//
// A user message is one bubble; everything the model does in reply (reasoning, tool calls and
// their results, the answer) goes into one assistant block. Reasoning is a <details> that is open
// while it streams and closes when it is done; tool calls are cards that get their result when it
// arrives. Markdown is re-rendered at most once per frame while text streams in.

import { copyText, renderMarkdown } from "./markdown.js";

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function messageText(item) {
  return (item.content || []).map((part) => part.text ?? part.refusal ?? "").join("");
}

function reasoningText(item) {
  return (item.content || []).map((part) => part.text).join("");
}

/** The pages a browsing answer cites (url_citation annotations), as links under it. */
function sourceList(sources) {
  const list = element("ol", "sources");
  const seen = new Set();
  for (const source of sources) {
    if (seen.has(source.url) || !/^https?:/i.test(source.url)) continue;
    seen.add(source.url);
    const link = element("a", "", source.title || source.url);
    link.href = source.url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    const item = element("li");
    item.append(link);
    list.append(item);
  }
  return list;
}

function annotationsOf(item) {
  return (item.content || []).flatMap((part) => part.annotations || []);
}

function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** A reasoning block: open while it streams, closed once done. */
class ReasoningBlock {
  constructor(parent, text = "", streaming = false) {
    this.node = element("details", "reasoning");
    this.summary = element("summary", "", streaming ? "Thinking" : "Reasoning");
    this.body = element("div", "reasoning-text", text);
    this.node.append(this.summary, this.body);
    this.started = performance.now();
    if (streaming) {
      this.node.open = true;
      this.node.dataset.streaming = "true";
    }
    parent.append(this.node);
  }
  append(delta) {
    this.body.textContent += delta;
  }
  done(text) {
    if (text !== undefined) this.body.textContent = text;
    if (this.node.dataset.streaming === "true") {
      const seconds = ((performance.now() - this.started) / 1000).toFixed(1);
      this.summary.textContent = `Thought for ${seconds} s`;
      delete this.node.dataset.streaming;
      this.node.open = false;
    }
  }
}

/** An answer: Markdown, rendered at most once per animation frame while it streams. */
class AnswerBlock {
  constructor(parent, text = "") {
    this.node = element("div", "answer");
    this.text = text;
    this.pending = false;
    parent.append(this.node);
    this.render();
  }
  append(delta) {
    this.text += delta;
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => this.render());
    }
  }
  done(text, annotations = []) {
    if (text !== undefined) this.text = text;
    this.sources = annotations.filter((note) => note.type === "url_citation" && note.url);
    this.render();
  }
  render() {
    this.pending = false;
    this.node.replaceChildren(renderMarkdown(this.text));
    if (this.sources?.length) this.node.append(sourceList(this.sources));
  }
}

/** A tool call (function or built-in) with its arguments and, once known, its result. */
class ToolCard {
  constructor(parent, item) {
    this.node = element("div", "tool-card");
    this.node.dataset.callId = item.call_id || item.id || "";
    const header = element("header");
    this.name = element("span", "tool-name", item.name || item.type.replace(/_call$/, ""));
    this.state = element("span", "tool-state", "calling…");
    header.append(this.name, this.state);
    this.args = element("pre", "tool-arguments", "");
    this.node.append(header, this.args);
    parent.append(this.node);
    this.arguments = "";
    this.update(item);
  }
  appendArguments(delta) {
    this.arguments += delta;
    this.args.textContent = this.arguments;
  }
  update(item) {
    if (item.type === "function_call") {
      if (item.arguments) this.arguments = item.arguments;
      this.args.textContent = prettyJson(this.arguments);
      if (item.status === "completed") this.state.textContent = "called";
      return;
    }
    // A built-in tool: what it was asked, and what it gave back once done.
    this.state.textContent = item.status === "completed" ? "done" : item.status || "";
    if (item.type === "web_search_call") {
      const action = item.action || {};
      this.name.textContent = "web search";
      this.args.textContent = action.query || action.url || action.pattern || action.type || "";
    } else if (item.type === "code_interpreter_call") {
      this.name.textContent = "python";
      this.args.textContent = item.code || "";
      const logs = (item.outputs || []).map((output) => output.logs ?? output.url ?? "").join("\n");
      if (logs) this.result(logs, item.status);
    } else {
      const details = { ...item };
      for (const key of ["id", "type", "status", "harmony"]) delete details[key];
      this.args.textContent = JSON.stringify(details, null, 2);
    }
  }
  result(output, status = "completed") {
    if (!this.output) {
      this.node.append(element("div", "label", "Result"));
      this.output = element("pre", "tool-output");
      this.node.append(this.output);
    }
    this.output.textContent = prettyJson(output);
    this.state.textContent = status === "completed" ? "done" : status;
  }
}

/** One assistant block being written by one or more responses (a tool loop continues it). */
export class TurnView {
  constructor(node) {
    this.node = node;
    this.blocks = new Map(); // output_index -> block, for the current response
    this.cards = new Map(); // call_id -> ToolCard
    this.node.setAttribute("aria-busy", "true");
  }
  beginResponse() {
    this.blocks = new Map();
  }
  /** Apply one Responses stream event. */
  apply(event) {
    const block = this.blocks.get(event.output_index);
    switch (event.type) {
      case "response.output_item.added":
        this.blocks.set(event.output_index, this.open(event.item));
        break;
      case "response.reasoning_text.delta":
      case "response.output_text.delta":
        block?.append(event.delta);
        break;
      case "response.function_call_arguments.delta":
        block?.appendArguments(event.delta);
        break;
      case "response.output_item.done":
        this.close(block, event.item);
        break;
      default:
        break;
    }
  }
  open(item, live = true) {
    switch (item.type) {
      case "reasoning":
        return new ReasoningBlock(this.node, reasoningText(item), live);
      case "message": {
        const block = new AnswerBlock(this.node, messageText(item));
        if (!live) block.done(undefined, annotationsOf(item));
        return block;
      }
      default: {
        const card = new ToolCard(this.node, item);
        if (item.call_id) this.cards.set(item.call_id, card);
        return card;
      }
    }
  }
  close(block, item) {
    if (!block) return;
    if (item.type === "reasoning") block.done(reasoningText(item));
    else if (item.type === "message") block.done(messageText(item), annotationsOf(item));
    else block.update(item);
  }
  toolResult(callId, output) {
    this.cards.get(callId)?.result(output);
  }
  notice(text, isError = false) {
    this.node.append(element("p", isError ? "notice error" : "notice", text));
  }
  finish() {
    this.node.removeAttribute("aria-busy");
    for (const block of this.blocks.values()) if (block instanceof ReasoningBlock) block.done();
  }
}

export class Transcript {
  constructor(root, empty) {
    this.root = root;
    this.empty = empty;
  }

  clear() {
    this.root.replaceChildren(this.empty);
    this.empty.hidden = false;
  }

  /** Draw a conversation's stored items. */
  render(items) {
    this.clear();
    let turn = null;
    for (const item of items) {
      if (item.type === "message" && item.role !== "assistant") {
        this.appendUser(messageText(item), item.id);
        turn = null;
        continue;
      }
      turn ??= this.beginAssistant(false);
      if (item.type === "function_call_output") {
        if (turn.cards.has(item.call_id)) turn.toolResult(item.call_id, item.output);
        else new ToolCard(turn.node, { type: "function_call_output", name: "tool result" }).result(item.output);
        continue;
      }
      turn.open(item, false);
    }
    turn?.finish();
    this.scrollToEnd(true);
  }

  /** A line after the messages that is not part of the conversation (why a turn failed). */
  notice(text) {
    this.root.append(element("p", "notice error", text));
    this.scrollToEnd(true);
  }

  appendUser(text, itemId = null) {
    this.empty.hidden = true;
    const node = element("article", "message user");
    node.dataset.itemId = itemId || "";
    node.append(element("div", "bubble", text));
    this.root.append(node);
    this.scrollToEnd(true);
    return node;
  }

  beginAssistant(live = true) {
    this.empty.hidden = true;
    const node = element("article", "message assistant");
    this.root.append(node);
    const view = new TurnView(node);
    if (!live) node.removeAttribute("aria-busy");
    return view;
  }

  /** Edit on the last user message, Copy and Regenerate on the last answer (only when idle). */
  setControls({ busy, onEdit, onRegenerate }) {
    for (const old of this.root.querySelectorAll(".message > .tools")) old.remove();
    if (busy) return;
    const messages = [...this.root.querySelectorAll(".message")];
    const lastUser = messages.filter((node) => node.classList.contains("user")).pop();
    const last = messages[messages.length - 1];
    if (lastUser) {
      const tools = element("div", "tools");
      const edit = element("button", "small-button", "Edit");
      edit.type = "button";
      edit.setAttribute("aria-label", "Edit your last message");
      edit.addEventListener("click", () => onEdit(lastUser));
      tools.append(edit);
      lastUser.append(tools);
    }
    if (last?.classList.contains("assistant")) {
      const tools = element("div", "tools");
      const copy = element("button", "small-button", "Copy");
      copy.type = "button";
      copy.setAttribute("aria-label", "Copy the answer");
      copy.addEventListener("click", () => {
        const answers = [...last.querySelectorAll(".answer")].map((node) => node.innerText);
        copyText(answers.join("\n\n"), copy);
      });
      const again = element("button", "small-button", "Regenerate");
      again.type = "button";
      again.setAttribute("aria-label", "Regenerate the answer");
      again.addEventListener("click", onRegenerate);
      tools.append(copy, again);
      last.append(tools);
    }
  }

  /** Keep the newest text in view, unless the reader scrolled up to read something older. */
  scrollToEnd(force = false) {
    const gap = this.root.scrollHeight - this.root.scrollTop - this.root.clientHeight;
    if (force || gap < 120) this.root.scrollTop = this.root.scrollHeight;
  }
}

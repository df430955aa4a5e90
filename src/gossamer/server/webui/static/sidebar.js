// The conversation list: the key's conversations (GET /v1/conversations, most recent first), search,
// rename in place (F2 or the button), delete (Delete or the button), and "Show more" pages.

import { api } from "./api.js";

const UNTITLED = "New conversation";
export const titleOf = (conversation) => conversation?.metadata?.title || UNTITLED;

export class Sidebar {
  constructor({ list, search, more, none, onOpen, onDeleted, onError }) {
    Object.assign(this, { list, search, more, none, onOpen, onDeleted, onError });
    this.currentId = null;
    // The entry whose title is being edited. Redrawing the list would drop it (and the words typed
    // so far) whenever an answer ends, so redraws wait until the rename does.
    this.renaming = null;
    this.loadAfterRename = false;
    this.after = null;
    this.conversations = new Map();
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.load(), 200);
    });
    more.addEventListener("click", () => this.load({ append: true }));
  }

  async load({ append = false } = {}) {
    if (this.renaming && !append) {
      this.loadAfterRename = true;
      return;
    }
    const query = this.search.value.trim();
    let page;
    try {
      page = await api.conversations({ search: query || undefined, after: append ? this.after : undefined });
    } catch (error) {
      this.onError(error);
      return;
    }
    if (query !== this.search.value.trim()) return; // the user typed on: a newer load will draw
    if (!append) {
      this.list.replaceChildren();
      this.conversations.clear();
    }
    for (const conversation of page.data) this.list.append(this.entry(conversation));
    this.after = page.has_more ? page.last_id : null;
    this.more.hidden = !page.has_more;
    this.none.hidden = this.list.children.length > 0;
    this.none.textContent = query ? "Nothing matches." : "No conversations yet.";
  }

  entry(conversation) {
    this.conversations.set(conversation.id, conversation);
    const li = document.createElement("li");
    li.className = "conversation";
    li.dataset.id = conversation.id;
    if (conversation.id === this.currentId) li.setAttribute("aria-current", "page");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    open.textContent = titleOf(conversation);
    open.title = titleOf(conversation);
    open.addEventListener("click", () => this.onOpen(conversation.id));
    open.addEventListener("keydown", (event) => {
      if (event.key === "F2") {
        event.preventDefault();
        this.rename(li);
      } else if (event.key === "Delete") {
        event.preventDefault();
        this.remove(li);
      }
    });
    const actions = document.createElement("span");
    actions.className = "actions";
    actions.append(
      this.action("✎", `Rename ${titleOf(conversation)}`, "rename", () => this.rename(li)),
      this.action("×", `Delete ${titleOf(conversation)}`, "delete", () => this.remove(li)),
    );
    li.append(open, actions);
    return li;
  }

  action(symbol, label, name, handler) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `small-button ${name}`;
    button.textContent = symbol;
    button.title = label;
    button.setAttribute("aria-label", label);
    button.addEventListener("click", handler);
    return button;
  }

  markCurrent(id) {
    this.currentId = id;
    for (const li of this.list.children) {
      if (li.dataset.id === id) li.setAttribute("aria-current", "page");
      else li.removeAttribute("aria-current");
    }
  }

  /** A conversation just created or changed: to the top of the list (it is now the most recent). */
  upsert(conversation) {
    if (this.renaming?.dataset.id === conversation.id) {
      // Left where it is, being edited; it moves to the top when the rename ends.
      this.conversations.set(conversation.id, { ...this.conversations.get(conversation.id), ...conversation });
      this.loadAfterRename = true;
      return;
    }
    this.list.querySelector(`[data-id="${CSS.escape(conversation.id)}"]`)?.remove();
    this.list.prepend(this.entry(conversation));
    this.none.hidden = true;
  }

  rename(li) {
    const conversation = this.conversations.get(li.dataset.id);
    const open = li.querySelector(".open");
    const input = document.createElement("input");
    input.className = "rename-input";
    input.value = titleOf(conversation) === UNTITLED ? "" : titleOf(conversation);
    input.setAttribute("aria-label", "New title");
    li.replaceChildren(input);
    this.renaming = li;
    input.focus();
    input.select();
    let settled = false;
    const restore = () => {
      this.renaming = null;
      li.replaceWith(this.entry(this.conversations.get(li.dataset.id)));
      this.list.querySelector(`[data-id="${CSS.escape(li.dataset.id)}"] .open`)?.focus();
      if (this.loadAfterRename) {
        this.loadAfterRename = false;
        this.load();
      }
    };
    const save = async () => {
      if (settled) return;
      settled = true;
      const title = input.value.trim().slice(0, 200);
      if (!title || title === titleOf(conversation)) return restore();
      try {
        const updated = await api.updateConversation(conversation.id, { ...conversation.metadata, title });
        this.conversations.set(conversation.id, { ...conversation, ...updated });
        if (conversation.id === this.currentId) document.getElementById("title").textContent = title;
      } catch (error) {
        this.onError(error);
      }
      restore();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        save();
      } else if (event.key === "Escape") {
        event.preventDefault();
        settled = true;
        restore();
      }
    });
    input.addEventListener("blur", save);
  }

  async remove(li) {
    const conversation = this.conversations.get(li.dataset.id);
    if (!confirm(`Delete "${titleOf(conversation)}"? This cannot be undone.`)) return;
    try {
      await api.deleteConversation(conversation.id);
    } catch (error) {
      if (error.status !== 404) return this.onError(error);
    }
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    this.conversations.delete(conversation.id);
    this.none.hidden = this.list.children.length > 0;
    next?.querySelector(".open")?.focus();
    this.onDeleted(conversation.id);
  }
}

// The page's wiring: settings, the key prompt, pickers, sidebar, chat, keyboard and the URL
// (#conv_... names the open conversation, so reload and the back button keep it).

import { api } from "./api.js";
import { Chat } from "./chat.js";
import { applyTheme, settings } from "./settings.js";
import { Sidebar, titleOf } from "./sidebar.js";
import { Transcript } from "./transcript.js";

const $ = (id) => document.getElementById(id);
const ui = {
  prompt: $("prompt"),
  send: $("send"),
  stop: $("stop"),
  model: $("model"),
  effort: $("effort"),
  title: $("title"),
  status: $("status"),
  sidebar: $("sidebar"),
  scrim: $("scrim"),
  keyDialog: $("key-dialog"),
};

// -- theme ------------------------------------------------------------------------------------------
function showTheme(theme) {
  $("theme").textContent = `Theme: ${theme}`;
}
showTheme(applyTheme());
$("theme").addEventListener("click", () => showTheme(applyTheme(settings.nextTheme())));

// -- API key ----------------------------------------------------------------------------------------
let keyWaiters = [];
function askForKey(reason) {
  $("key-reason").textContent = reason;
  $("key-input").value = settings.apiKey() || "";
  if (!ui.keyDialog.open) ui.keyDialog.showModal();
  return new Promise((resolve) => keyWaiters.push(resolve));
}
$("key-form").addEventListener("submit", () => {
  const key = $("key-input").value.trim();
  if (key) settings.setApiKey(key, $("key-remember").checked);
  keyWaiters.forEach((resolve) => resolve());
  keyWaiters = [];
});
$("key-forget").addEventListener("click", () => {
  settings.forgetApiKey();
  $("key-input").value = "";
});
$("api-key").addEventListener("click", () => askForKey("The key this page sends to the server.").then(start));

function reportError(error, { quiet = false } = {}) {
  if (error?.status === 401) {
    askForKey(settings.apiKey() ? "That key was refused. Enter another one." : "This server asks for an API key.")
      .then(start);
    return;
  }
  console.error(error);
  if (!quiet) announce(error.message || String(error));
}

function announce(text) {
  ui.status.textContent = text;
}

// -- pickers ----------------------------------------------------------------------------------------
async function loadModels() {
  const models = (await api.models()).data.map((model) => model.id);
  const wanted = settings.model();
  ui.model.replaceChildren(...models.map((id) => new Option(id, id)));
  ui.model.value = models.includes(wanted) ? wanted : models[0];
  ui.prompt.placeholder = `Message ${ui.model.value}`;
}
ui.model.addEventListener("change", () => {
  settings.setModel(ui.model.value);
  ui.prompt.placeholder = `Message ${ui.model.value}`;
});
ui.effort.value = settings.effort();
ui.effort.addEventListener("change", () => settings.setEffort(ui.effort.value));
$("demo-tools").checked = settings.demoTools();
$("demo-tools").addEventListener("change", (event) => settings.setDemoTools(event.target.checked));
const BUILTIN = ["web_search", "code_interpreter"];
for (const type of BUILTIN) {
  $(`tool-${type}`).checked = settings.builtinTool(type);
  $(`tool-${type}`).addEventListener("change", (event) => settings.setBuiltinTool(type, event.target.checked));
}
/** A server that runs no such tool refused the request (its message says how to start it): switch them off. */
function builtinToolsRefused() {
  for (const type of BUILTIN) {
    settings.setBuiltinTool(type, false);
    $(`tool-${type}`).checked = false;
  }
}

// -- drawer (phone-sized screens) -------------------------------------------------------------------
function setDrawer(open) {
  ui.sidebar.classList.toggle("open", open);
  ui.scrim.hidden = !open;
  $("open-sidebar").setAttribute("aria-expanded", String(open));
  if (open) $("search").focus();
}
$("open-sidebar").addEventListener("click", () => setDrawer(true));
$("close-sidebar").addEventListener("click", () => setDrawer(false));
ui.scrim.addEventListener("click", () => setDrawer(false));

// -- conversations ----------------------------------------------------------------------------------
const transcript = new Transcript($("transcript"), $("empty"));
const sidebar = new Sidebar({
  list: $("conversations"),
  search: $("search"),
  more: $("more-conversations"),
  none: $("no-conversations"),
  onOpen: (id) => {
    setDrawer(false);
    location.hash = id;
  },
  onDeleted: (id) => {
    if (chat.conversationId === id) location.hash = "";
  },
  onError: reportError,
});
const chat = new Chat({
  transcript,
  model: () => ui.model.value,
  effort: () => ui.effort.value,
  announce,
  onBusy: (busy) => {
    ui.send.hidden = busy;
    ui.stop.hidden = !busy;
  },
  onConversation: (conversation) => {
    history.replaceState(null, "", `#${conversation.id}`);
    ui.title.textContent = titleOf(conversation);
    sidebar.upsert(conversation);
    sidebar.markCurrent(conversation.id);
  },
  onError: reportError,
  onToolRefused: builtinToolsRefused,
  onUnsent: (text) => {
    if (!ui.prompt.value) ui.prompt.value = text;
  },
});

async function openFromUrl() {
  const id = decodeURIComponent(location.hash.slice(1));
  if (id === chat.conversationId) return;
  sidebar.markCurrent(id || null);
  if (!id) {
    chat.clear();
    ui.title.textContent = "New chat";
    ui.prompt.focus();
    return;
  }
  try {
    const conversation = await api.conversation(id);
    sidebar.conversations.set(id, { ...sidebar.conversations.get(id), ...conversation });
    ui.title.textContent = titleOf(conversation);
    await chat.open(id);
  } catch (error) {
    if (error.status === 404) {
      announce("That conversation is gone.");
      location.hash = "";
    } else {
      reportError(error);
    }
  }
}
window.addEventListener("hashchange", openFromUrl);
$("new-chat").addEventListener("click", () => {
  setDrawer(false);
  if (location.hash) location.hash = "";
  else openFromUrl();
  ui.prompt.focus();
});

// -- composer and keyboard --------------------------------------------------------------------------
function growPrompt() {
  ui.prompt.style.height = "auto";
  ui.prompt.style.height = `${ui.prompt.scrollHeight}px`;
}
ui.prompt.addEventListener("input", growPrompt);
$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = ui.prompt.value;
  if (chat.busy || !text.trim()) return;
  ui.prompt.value = "";
  growPrompt();
  try {
    await chat.send(text);
    sidebar.upsert({ ...sidebar.conversations.get(chat.conversationId), id: chat.conversationId });
    sidebar.markCurrent(chat.conversationId);
  } catch (error) {
    ui.prompt.value ||= text; // nothing was sent: give the text back
    reportError(error);
  }
});
ui.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
ui.stop.addEventListener("click", () => chat.stop());
document.addEventListener("keydown", (event) => {
  const mod = event.ctrlKey || event.metaKey;
  if (event.key === "Escape" && chat.busy) {
    event.preventDefault();
    chat.stop();
  } else if (event.key === "Escape" && ui.sidebar.classList.contains("open")) {
    setDrawer(false);
  } else if (mod && event.shiftKey && event.key.toLowerCase() === "o") {
    event.preventDefault();
    $("new-chat").click();
  } else if (mod && event.key.toLowerCase() === "k") {
    event.preventDefault();
    if (matchMedia("(max-width: 760px)").matches) setDrawer(true);
    $("search").focus();
  }
});

// -- start ------------------------------------------------------------------------------------------
async function start() {
  try {
    await loadModels();
  } catch (error) {
    reportError(error);
    return;
  }
  chat.conversationId = undefined; // force openFromUrl to (re)load
  await Promise.all([sidebar.load(), openFromUrl()]);
  document.body.dataset.ready = "true";
}
start();
ui.prompt.focus();

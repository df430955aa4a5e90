// What the page remembers on this browser: the API key (if the user says so), theme, choices.

const PREFIX = "gossamer.";
const THEMES = ["system", "light", "dark"];

function read(key, fallback = null) {
  try {
    return localStorage.getItem(PREFIX + key) ?? fallback;
  } catch {
    return fallback; // storage blocked: the page still works, it just forgets
  }
}

function write(key, value) {
  try {
    if (value === null) localStorage.removeItem(PREFIX + key);
    else localStorage.setItem(PREFIX + key, value);
  } catch {
    // see read()
  }
}

export const settings = {
  apiKey() {
    return sessionStorage.getItem(PREFIX + "apiKey") || read("apiKey");
  },
  setApiKey(key, remember) {
    sessionStorage.setItem(PREFIX + "apiKey", key);
    write("apiKey", remember ? key : null);
  },
  forgetApiKey() {
    sessionStorage.removeItem(PREFIX + "apiKey");
    write("apiKey", null);
  },
  theme: () => read("theme", "system"),
  nextTheme() {
    const next = THEMES[(THEMES.indexOf(settings.theme()) + 1) % THEMES.length];
    write("theme", next);
    return next;
  },
  model: () => read("model"),
  setModel: (model) => write("model", model),
  effort: () => read("effort", "medium"),
  setEffort: (effort) => write("effort", effort),
  demoTools: () => read("demoTools") === "on",
  setDemoTools: (on) => write("demoTools", on ? "on" : null),
  /** The server's built-in tools the page asks for, by Responses tool type (web_search, code_interpreter). */
  builtinTool: (type) => read(`tool.${type}`) === "on",
  setBuiltinTool: (type, on) => write(`tool.${type}`, on ? "on" : null),
  /** The response a conversation is waiting for, so a reload can follow it to its end. */
  running: (conversationId) => read(`running.${conversationId}`),
  setRunning: (conversationId, responseId) => write(`running.${conversationId}`, responseId),
};

const systemDark = matchMedia("(prefers-color-scheme: dark)");

/** Show `theme` ("system" follows the system's preference, live); returns the choice. */
export function applyTheme(theme = settings.theme()) {
  const dark = theme === "dark" || (theme === "system" && systemDark.matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
  return theme;
}
systemDark.addEventListener("change", () => applyTheme());

// Model output as Markdown, safely: raw HTML in the text is shown as text, images become links (an
// answer never loads anything), and DOMPurify sanitizes whatever marked produced. The page's CSP
// (server/webui/router.py) is the last line: only this server's scripts run.

const { marked, DOMPurify } = globalThis;

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

marked.use({
  gfm: true,
  breaks: true,
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    image({ href, text }) {
      return `<a href="${escapeHtml(href || "")}">${escapeHtml(text || href || "image")}</a>`;
    },
  },
});

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

const PURIFY = {
  RETURN_DOM_FRAGMENT: true,
  FORBID_TAGS: ["style", "img", "video", "audio", "iframe", "form", "input", "textarea", "button"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
};

/** A sanitized DocumentFragment for `text`. */
export function renderMarkdown(text) {
  const html = marked.parse(text, { async: false });
  const fragment = DOMPurify.sanitize(html, PURIFY);
  for (const pre of fragment.querySelectorAll("pre")) {
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "small-button copy-code";
    copy.textContent = "Copy";
    copy.addEventListener("click", () => copyText(pre.querySelector("code")?.textContent ?? pre.textContent, copy));
    pre.append(copy);
  }
  return fragment;
}

export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    flash(button, "Copied");
  } catch {
    flash(button, "Copy failed");
  }
}

function flash(button, label) {
  const before = button.textContent;
  button.textContent = label;
  setTimeout(() => (button.textContent = before), 1200);
}

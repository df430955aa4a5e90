// The page's only door to the server: the public OpenAI-style APIs, with the user's API key.

import { readEvents } from "./sse.js";
import { settings } from "./settings.js";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code || null;
    this.param = body?.error?.param || null;
  }
}

function headers(json) {
  const out = {};
  if (json) out["Content-Type"] = "application/json";
  const key = settings.apiKey();
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: the status says enough
  }
  return new ApiError(response.status, body);
}

/** A JSON request to /v1; resolves to the parsed body, rejects with ApiError. */
export async function request(method, path, body = undefined, { signal } = {}) {
  const response = await fetch(`/v1${path}`, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** A streamed request (POST /v1/responses or GET ...?stream=true): yields the events. */
export async function* stream(method, path, body, { signal } = {}) {
  const response = await fetch(`/v1${path}`, {
    method,
    headers: { ...headers(body !== undefined), Accept: "text/event-stream" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  yield* readEvents(response);
}

export const api = {
  models: () => request("GET", "/models"),
  conversations: ({ search, after, limit = 30 } = {}) => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (search) query.set("search", search);
    if (after) query.set("after", after);
    return request("GET", `/conversations?${query}`);
  },
  createConversation: (metadata) => request("POST", "/conversations", { metadata }),
  conversation: (id) => request("GET", `/conversations/${encodeURIComponent(id)}`),
  updateConversation: (id, metadata) => request("POST", `/conversations/${encodeURIComponent(id)}`, { metadata }),
  deleteConversation: (id) => request("DELETE", `/conversations/${encodeURIComponent(id)}`),
  deleteItem: (id, itemId) =>
    request("DELETE", `/conversations/${encodeURIComponent(id)}/items/${encodeURIComponent(itemId)}`),
  /** Every item of a conversation, oldest first (the API pages by 100). */
  async items(id) {
    const all = [];
    let after = null;
    do {
      const query = new URLSearchParams({ order: "asc", limit: "100" });
      if (after) query.set("after", after);
      const page = await request("GET", `/conversations/${encodeURIComponent(id)}/items?${query}`);
      all.push(...page.data);
      after = page.has_more ? page.last_id : null;
    } while (after);
    return all;
  },
  response: (id) => request("GET", `/responses/${encodeURIComponent(id)}`),
  inputItems: (id) => request("GET", `/responses/${encodeURIComponent(id)}/input_items?order=asc&limit=100`),
  cancel: (id) => request("POST", `/responses/${encodeURIComponent(id)}/cancel`),
  createResponse: (body, options) => stream("POST", "/responses", body, options),
  followResponse: (id, options) => stream("GET", `/responses/${encodeURIComponent(id)}?stream=true`, undefined, options),
};

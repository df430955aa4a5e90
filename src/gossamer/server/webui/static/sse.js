// Server-sent events from a fetch() response: EventSource cannot POST a body or send a key.

/** Yields each event's parsed JSON data ({type, ...}) as frames arrive; ends at [DONE] or EOF. */
export async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = frameEnd(buffer)) !== null) {
        const frame = buffer.slice(0, end.index);
        buffer = buffer.slice(end.index + end.length);
        const data = frameData(frame);
        if (data === null) continue;
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function frameEnd(buffer) {
  const match = /\r?\n\r?\n/.exec(buffer);
  return match ? { index: match.index, length: match[0].length } : null;
}

function frameData(frame) {
  const lines = frame.split(/\r?\n/).filter((line) => line.startsWith("data:"));
  if (lines.length === 0) return null;
  return lines.map((line) => line.slice(5).replace(/^ /, "")).join("\n");
}

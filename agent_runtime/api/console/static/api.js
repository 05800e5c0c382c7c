// The console's client of the task API: the same /v1 routes and bearer keys as every other client.
// The key lives in this tab's sessionStorage; the event stream is read with fetch streaming
// (EventSource cannot send an Authorization header) and resumed with Last-Event-ID after a drop.

const KEY = "agent-platform.api-key";
const TERMINAL = new Set(["task.finished", "task.failed", "task.cancelled"]);

/** An error reply of the API: HTTP status plus the `{"error": {"code", "message"}}` body. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

function headers(extra = {}) {
  return { Authorization: `Bearer ${key.get() ?? ""}`, Accept: "application/json", ...extra };
}

async function failure(response) {
  let code = "http_" + response.status;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch { /* not JSON: keep the status line */ }
  if (response.status === 401) message = "the API key was not accepted (401): " + message;
  return new ApiError(response.status, code, message);
}

/** A JSON request to the API; resolves to the parsed body, rejects with ApiError. */
export async function call(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

export const taskPath = (agent, taskId) =>
  `/v1/agents/${encodeURIComponent(agent)}/tasks/${encodeURIComponent(taskId)}`;

/** Parse a text/event-stream body into `{id, event, data}` records (comments and pings dropped). */
async function* sseRecords(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let record = { data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (record.data.length) yield { id: record.id, event: record.event, data: record.data.join("\n") };
        record = { data: [] };
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (name === "data") record.data.push(val);
      else if (name === "id" || name === "event") record[name] = val;
    }
  }
}

const pause = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});

/**
 * Follow a task's events from the start until its terminal event, calling `onEvent(event)` once per
 * stored event in order. After a network drop it reconnects with `Last-Event-ID` (events already seen
 * are skipped, so none is lost or repeated); `onLink(state)` hears "live", "reconnecting" or "closed".
 * Resolves when the task has ended or `signal` aborts; rejects with ApiError on 401/403/404.
 */
export async function follow(agent, taskId, { onEvent, onLink = () => {}, signal }) {
  let last = 0;
  let backoff = 500;
  while (!signal?.aborted) {
    try {
      const extra = { Accept: "text/event-stream" };
      if (last > 0) extra["Last-Event-ID"] = String(last);
      const response = await fetch(`${taskPath(agent, taskId)}/events`, { headers: headers(extra), signal });
      if (!response.ok) {
        const error = await failure(response);
        if (response.status !== 429 && response.status < 500) throw error;
        await pause(1000 * Number(response.headers.get("Retry-After") || 2), signal);
        continue;
      }
      onLink("live");
      backoff = 500;
      for await (const record of sseRecords(response.body)) {
        const event = JSON.parse(record.data);
        if (typeof event.seq === "number") {
          if (event.seq <= last) continue;
          last = event.seq;
        }
        onEvent(event);
        if (TERMINAL.has(event.type)) {
          onLink("closed");
          return;
        }
      }
    } catch (error) {
      if (error instanceof ApiError) throw error;
      if (signal?.aborted) break;
    }
    onLink("reconnecting");
    await pause(backoff, signal);
    backoff = Math.min(backoff * 2, 5000);
  }
  onLink("closed");
}

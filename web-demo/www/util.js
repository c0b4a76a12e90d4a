// What every panel of the page shares: its state, and small helpers for the
// DOM and for showing times.

export const LIST_QUERY = "limit=200"; // the contract's largest page
export const REASON = { 200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content" };

export const state = {
  pg: null, // the Playground, in-browser mode
  start: 0, // the virtual clock's start, for "since start"
  live: false,
  // Set by app.js: redraws whichever mode is on after an action.
  refresh: async () => {},
};

export const $ = (id) => document.getElementById(id);

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function li(text, cls) {
  const item = document.createElement("li");
  item.textContent = text;
  if (cls) item.className = cls;
  return item;
}

export function announce(text) {
  $("announce").textContent = text;
}

export function esc(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

export function secs(ms) {
  const s = ms / 1000;
  if (Math.abs(s) >= 120) return `${(s / 60).toFixed(1)} min`;
  return `${Number.isInteger(s) ? s : s.toFixed(s < 10 ? 2 : 1)} s`;
}

export function clockTime(ms) {
  return new Date(ms).toISOString().slice(11, 23);
}

export const short = (id) => id.slice(0, 8);

/// "202 Accepted": a reply's status line.
export const statusLine = (status) => `${status} ${REASON[status] ?? ""}`.trim();

/// The `detail` of an error body, or the body itself.
export function detailOf(body) {
  try {
    const detail = JSON.parse(body).detail;
    return typeof detail === "string" ? detail : JSON.stringify(detail);
  } catch {
    return body;
  }
}

/// One answer of the virtual destination, in words.
export function describeAnswer(answer) {
  if (answer === "silence") return "no answer (times out)";
  if (answer === "refused") return "connection refused";
  const after = answer.retry_after ? `, Retry-After: ${answer.retry_after}` : "";
  const body = answer.body ? `, body ${JSON.stringify(answer.body)}` : "";
  return `${answer.status} after ${answer.delay_ms} ms${after}${body}`;
}

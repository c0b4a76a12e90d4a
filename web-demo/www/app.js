// The playground page: one module, no framework.
//
// Two backends answer the same four calls (submit, retry, list, output) with
// {status, body}: the engine compiled to wasm on a virtual clock, or the live
// service over fetch. Everything below them draws whichever is active, from
// the contract's own JSON, so the two modes cannot drift apart.
import init, { Playground } from "/playground/pkg/bgtasks_web.js";

const ROUTES = { notification: "/notify/", report: "/report/", file: "/file/" };
// The contract's defaults, for the schedule preview when a field is empty.
const DEFAULT_DELAY_MS = { notification: 2000, report: 3000, file: 2000 };
const RANGES = {
  delay_ms: [0, 60000],
  fail_attempts: [0, 10],
  max_attempts: [1, 10],
  backoff_ms: [0, 600000],
};
const LIST_QUERY = "limit=200"; // the contract's largest page
const POLL_MS = 1000;
const TIMELINE_ROWS = 12;
const REASON = { 200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content" };

const $ = (id) => document.getElementById(id);
const utf8 = new TextEncoder();

const state = {
  pg: null, // the Playground, in-browser mode
  start: 0, // the virtual clock's start, for "since start"
  live: false,
  playing: false,
  speed: 1,
  lastFrame: null,
  carry: 0, // virtual milliseconds owed to the clock but not yet whole
  drawn: { list: "", files: "", now: -1, width: 0 },
  statuses: new Map(), // id -> last status seen, to announce changes
  polling: false,
  pollTimer: null,
};

// ---------------------------------------------------------------------------
// Backends

const inBrowser = {
  submit: async (kind, body, key) => JSON.parse(state.pg.submit(kind, body, key)),
  retry: async (id) => JSON.parse(state.pg.retry(id)),
  list: async () => JSON.parse(state.pg.list(LIST_QUERY)),
  output: async (id) => JSON.parse(state.pg.output(id)),
};

const liveService = {
  submit: (kind, body, key) => request("POST", ROUTES[kind], body, key),
  retry: (id) => request("POST", `/retry-task/${encodeURIComponent(id)}`),
  list: () => request("GET", `/tasks?${LIST_QUERY}`),
  output: (id) => request("GET", `/outputs/${encodeURIComponent(id)}.json`),
};

async function request(method, path, body, key) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (key !== undefined) headers["idempotency-key"] = key;
  const res = await fetch(path, { method, headers, body, cache: "no-store" });
  return { status: res.status, body: await res.text() };
}

const backend = () => (state.live ? liveService : inBrowser);

// ---------------------------------------------------------------------------
// The submit form

const currentKind = () => document.querySelector('input[name="kind"]:checked').value;

function showKind() {
  const kind = currentKind();
  for (const set of document.querySelectorAll("fieldset[data-kind]")) {
    set.hidden = set.dataset.kind !== kind;
  }
  $("submit-btn").textContent = `Submit ${kind}`;
  $("f-delay_ms").placeholder = String(DEFAULT_DELAY_MS[kind]);
  clearErrors();
  drawSchedule();
}

// A JSON number literal goes in as a number; anything else goes in as a
// string, so the service's own 422 ("Input should be a valid integer")
// explains it, next to the field.
const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/// The request body, built from the visible fields in the order the contract
/// lists them. JSON fields go in as typed (raw), so a syntax error is the
/// service's to report; `raw` remembers where each sits, in bytes, to put
/// that error next to its field.
function buildBody(kind) {
  let body = "{";
  const raw = [];
  const add = (name, text, el) => {
    body += `${body === "{" ? "" : ", "}${JSON.stringify(name)}: `;
    const start = utf8.encode(body).length;
    body += text;
    if (el) raw.push({ el, start, end: utf8.encode(body).length });
  };
  const set = document.querySelector(`fieldset[data-kind="${kind}"]`);
  for (const el of set.querySelectorAll("[data-loc]")) {
    if (!el.hasAttribute("data-raw")) add(el.dataset.loc, JSON.stringify(el.value));
    else if (el.value.trim() !== "") add(el.dataset.loc, el.value.trim(), el);
  }
  for (const group of ["simulate", "retry_policy"]) {
    const members = [];
    for (const el of document.querySelectorAll(`[data-loc^="${group}."]`)) {
      const value = el.value.trim();
      if (value === "") continue;
      const name = el.dataset.loc.slice(group.length + 1);
      const literal = el.tagName === "SELECT" || !JSON_NUMBER.test(value) ? JSON.stringify(value) : value;
      members.push(`${JSON.stringify(name)}: ${literal}`);
    }
    if (members.length) add(group, `{${members.join(", ")}}`);
  }
  return { body: `${body}}`, raw };
}

async function onSubmit(event) {
  event.preventDefault();
  clearErrors();
  const kind = currentKind();
  const { body, raw } = buildBody(kind);
  const key = $("f-key").value === "" ? undefined : $("f-key").value;
  let reply;
  try {
    reply = await backend().submit(kind, body, key);
  } catch (err) {
    formError(`No answer from the service: ${err.message}`);
    return;
  }
  const line = `${reply.status} ${REASON[reply.status] ?? ""}`.trim();
  if (reply.status === 202) {
    const { task_id: id } = JSON.parse(reply.body);
    $("submit-result").textContent = `${line}: task ${id}`;
    await refresh();
  } else {
    $("submit-result").textContent = line;
    showProblem(reply.body, raw);
  }
}

function showProblem(text, raw) {
  let detail;
  try {
    detail = JSON.parse(text).detail;
  } catch {
    detail = text;
  }
  if (!Array.isArray(detail)) {
    formError(String(detail));
    return;
  }
  let first = null;
  for (const err of detail) {
    const reason = typeof err.ctx?.error === "string" && err.ctx.error ? ` (${err.ctx.error})` : "";
    const field = fieldFor(err.loc, raw);
    if (field) {
      fieldError(field, `${err.msg}${reason}`);
      first ??= field;
    } else {
      formError(`${err.loc.join(" › ")}: ${err.msg}${reason}`);
    }
  }
  (first ?? $("err-body")).focus?.();
}

/// The form field a 422's `loc` points at: the longest prefix of its path
/// that names a visible field.
function fieldFor(loc, raw) {
  const [where, ...path] = loc;
  if (where === "body" && typeof path[0] === "number") {
    const at = path[0];
    const hit = raw.find((r) => at >= r.start && at <= r.end) ?? raw.find((r) => !parses(r.el.value));
    return hit?.el ?? null;
  }
  for (let n = path.length; n > 0; n--) {
    const name = path.slice(0, n).join(".");
    const el = document.querySelector(`#submit-form [data-loc="${CSS.escape(name)}"]`);
    if (el && !el.closest("fieldset[hidden]")) return el;
  }
  return null;
}

function parses(text) {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function errorSlot(el) {
  return $(el.getAttribute("aria-describedby"));
}

function fieldError(el, message) {
  const slot = errorSlot(el);
  slot.textContent = slot.hidden ? message : `${slot.textContent}; ${message}`;
  slot.hidden = false;
  el.setAttribute("aria-invalid", "true");
}

function formError(message) {
  const slot = $("err-body");
  slot.textContent = slot.hidden ? message : `${slot.textContent}\n${message}`;
  slot.hidden = false;
}

function clearErrors() {
  for (const slot of document.querySelectorAll("#submit-form .field-error")) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const el of document.querySelectorAll("#submit-form [aria-invalid]")) el.removeAttribute("aria-invalid");
  $("submit-result").textContent = "";
}

function clearFieldError(el) {
  const slot = el.getAttribute("aria-describedby") && errorSlot(el);
  if (slot && !slot.hidden && slot.id !== "err-body") {
    slot.hidden = true;
    slot.textContent = "";
    el.removeAttribute("aria-invalid");
  }
}

// ---------------------------------------------------------------------------
// The retry schedule of the policy being edited: the contract's formula
// (wait = backoff_ms, doubled per failed attempt when exponential) with the
// jitter factor taken as 1.0.

function knob(id, fallback) {
  const text = $(id).value.trim();
  if (text === "") return fallback;
  return /^\d+$/.test(text) ? Number(text) : NaN;
}

function planSchedule() {
  const plan = {
    delay_ms: knob("f-delay_ms", DEFAULT_DELAY_MS[currentKind()]),
    fail_attempts: knob("f-fail_attempts", 0),
    max_attempts: knob("f-max_attempts", 1),
    backoff_ms: knob("f-backoff_ms", 1000),
  };
  for (const [name, [lo, hi]] of Object.entries(RANGES)) {
    if (!(plan[name] >= lo && plan[name] <= hi)) return { problem: `${name} must be a whole number from ${lo} to ${hi}` };
  }
  const fixed = $("f-backoff").value === "fixed";
  const steps = [];
  let t = 0;
  for (let k = 1; k <= plan.max_attempts; k++) {
    const fails = k <= plan.fail_attempts;
    const step = { attempt: k, start: t, end: t + plan.delay_ms, fails, wait: 0 };
    steps.push(step);
    t = step.end;
    if (!fails) break;
    if (k < plan.max_attempts) {
      step.wait = fixed ? plan.backoff_ms : plan.backoff_ms * 2 ** (k - 1);
      t += step.wait;
    }
  }
  return { steps, total: t, failed: steps.at(-1).fails, max: plan.max_attempts };
}

function drawSchedule() {
  const list = $("schedule-list");
  const svg = $("schedule-svg");
  const plan = planSchedule();
  list.replaceChildren();
  if (plan.problem) {
    svg.innerHTML = "";
    list.append(li(`No schedule: ${plan.problem} (the service would answer 422).`, "end"));
    return;
  }
  for (const s of plan.steps) {
    list.append(li(`Attempt ${s.attempt}: ${secs(s.start)} → ${secs(s.end)}, ${s.fails ? "fails" : "succeeds"}`));
    if (s.wait) list.append(li(`wait ≈ ${secs(s.wait)} (${secs(s.wait * 0.9)} to ${secs(s.wait * 1.1)})`, "wait"));
  }
  if (plan.failed) list.append(li(`Then failed; Retry grants ${plan.max} more attempt${plan.max === 1 ? "" : "s"}.`, "end"));

  const width = Math.max(240, svg.clientWidth || 320);
  const x = (t) => 4 + (t / Math.max(plan.total, 1)) * (width - 8);
  let parts = "";
  for (const s of plan.steps) {
    parts += `<rect class="${s.fails ? "fail" : "ok"}" x="${x(s.start)}" y="4" width="${Math.max(2, x(s.end) - x(s.start))}" height="12" rx="2"></rect>`;
    if (s.wait) parts += `<line class="wait" x1="${x(s.end)}" x2="${x(s.end + s.wait)}" y1="10" y2="10"></line>`;
  }
  svg.setAttribute("viewBox", `0 0 ${width} 20`);
  svg.setAttribute("aria-label", `Attempt schedule: ${list.textContent}`);
  svg.innerHTML = parts;
}

function li(text, cls) {
  const item = document.createElement("li");
  item.textContent = text;
  if (cls) item.className = cls;
  return item;
}

// ---------------------------------------------------------------------------
// The task table: rows keyed by id and updated in place, so that keyboard
// focus on a row's button survives the redraws.

function renderTable(tasks) {
  const body = $("task-rows");
  const seen = new Set();
  let previous = null;
  for (const task of tasks) {
    seen.add(task.id);
    let row = body.querySelector(`tr[data-id="${task.id}"]`);
    if (!row) row = newRow(task.id);
    updateRow(row, task);
    const expected = previous ? previous.nextElementSibling : body.firstElementChild;
    if (expected !== row) body.insertBefore(row, expected);
    previous = row;
  }
  for (const row of [...body.children]) if (!seen.has(row.dataset.id)) row.remove();
  $("empty").hidden = tasks.length > 0;
  body.closest("table").hidden = tasks.length === 0;
  announceChanges(tasks);
}

const COLUMNS = ["type", "status", "attempts", "retries", "outcome", "action"];
const LABELS = { type: "Type", status: "Status", attempts: "Attempts", retries: "Retries", outcome: "Result or error", action: "Action" };

function newRow(id) {
  const row = document.createElement("tr");
  row.dataset.id = id;
  const head = document.createElement("th");
  head.scope = "row";
  head.tabIndex = -1;
  head.dataset.col = "id";
  const code = document.createElement("code");
  code.textContent = `${id.slice(0, 8)}…`;
  code.title = id;
  const full = document.createElement("span");
  full.className = "visually-hidden";
  full.textContent = id;
  head.append(code, full);
  row.append(head);
  for (const col of COLUMNS) {
    const cell = document.createElement("td");
    cell.dataset.col = col;
    cell.dataset.label = LABELS[col];
    row.append(cell);
  }
  return row;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function updateRow(row, task) {
  const cell = (col) => row.querySelector(`[data-col="${col}"]`);
  setText(cell("type"), task.type);
  const status = cell("status");
  const hint = task.next_attempt_at ? `next attempt ${clockTime(Date.parse(task.next_attempt_at))}` : "";
  const key = `${task.status}|${hint}`;
  if (status.dataset.key !== key) {
    status.dataset.key = key;
    // One wrapper, so that the phone layout's label column sees one item.
    const wrap = document.createElement("span");
    const badge = document.createElement("span");
    badge.className = `badge ${task.status}`;
    badge.textContent = task.status;
    wrap.append(badge);
    if (hint) wrap.append(Object.assign(document.createElement("small"), { textContent: hint }));
    status.replaceChildren(wrap);
  }
  setText(cell("attempts"), String(task.attempts ?? ""));
  setText(cell("retries"), String(task.retries));
  const outcome = cell("outcome");
  const text = task.error ?? (task.result ? JSON.stringify(task.result) : "");
  setText(outcome, text);
  outcome.classList.toggle("error", task.error != null);

  const action = cell("action");
  const button = action.querySelector("button");
  if (task.status === "failed" && !button) {
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = "Retry";
    retry.setAttribute("aria-label", `Retry task ${task.id.slice(0, 8)}`);
    retry.addEventListener("click", () => retryTask(task.id));
    action.append(retry);
  } else if (task.status !== "failed" && button) {
    button.remove();
  }
}

async function retryTask(id) {
  let reply;
  try {
    reply = await backend().retry(id);
  } catch (err) {
    announce(`Retry failed: ${err.message}`);
    return;
  }
  announce(reply.status === 200 ? `Task ${id.slice(0, 8)} retried.` : `Retry refused: ${reply.status} ${reply.body}`);
  await refresh();
  // The button is gone with the failed state: keep focus on its row.
  $("task-rows").querySelector(`tr[data-id="${id}"] th`)?.focus();
}

function announceChanges(tasks) {
  for (const task of tasks) {
    const before = state.statuses.get(task.id);
    if (before && before !== task.status) announce(`Task ${task.id.slice(0, 8)} (${task.type}) is ${task.status}.`);
    state.statuses.set(task.id, task.status);
  }
}

function announce(text) {
  $("announce").textContent = text;
}

// ---------------------------------------------------------------------------
// Files

function renderFiles(files) {
  const box = $("files");
  const paths = Object.keys(files);
  for (const [path, content] of Object.entries(files)) {
    let item = box.querySelector(`details[data-path="${CSS.escape(path)}"]`);
    if (!item) {
      item = document.createElement("details");
      item.dataset.path = path;
      const summary = document.createElement("summary");
      summary.textContent = path;
      item.append(summary, document.createElement("pre"));
      if (content === null) item.addEventListener("toggle", () => loadLiveFile(item));
      box.append(item);
    }
    if (content !== null) setText(item.querySelector("pre"), content);
  }
  for (const item of [...box.children]) if (!paths.includes(item.dataset.path)) item.remove();
  $("files-empty").hidden = paths.length > 0;
}

async function loadLiveFile(item) {
  if (!item.open || item.dataset.loaded) return;
  const id = item.dataset.path.replace(/^outputs\//, "").replace(/\.json$/, "");
  const reply = await liveService.output(id);
  item.querySelector("pre").textContent = reply.status === 200 ? reply.body : `${reply.status}: ${reply.body}`;
  item.dataset.loaded = "1";
}

// ---------------------------------------------------------------------------
// The timeline: one row per task, its attempts as bars over simulated time.

const SHORT_KIND = { notification: "notif", report: "report", file: "file" };
const OUTCOME_CLASS = { success: "ok", failed: "fail", interrupted: "interrupted" };

/// Rows from the engine's own records (in-browser mode): exact times.
function engineRows(now) {
  return JSON.parse(state.pg.timeline()).map((task) => {
    const segs = [];
    let cursor = task.submitted_at;
    let lastFailed = false;
    const gap = (until) => {
      if (until <= cursor) return;
      const retry = lastFailed ? task.manual_retries.find((r) => r >= cursor && r <= until) : undefined;
      if (retry !== undefined) {
        segs.push({ cls: "idle", from: cursor, to: retry, title: "failed until retried by hand" });
        segs.push({ cls: "queued", from: retry, to: until, title: "queued" });
      } else {
        segs.push({ cls: lastFailed ? "wait" : "queued", from: cursor, to: until, title: lastFailed ? "backoff wait" : "queued" });
      }
    };
    for (const a of task.history) {
      gap(a.started_at);
      segs.push({ cls: OUTCOME_CLASS[a.outcome], from: a.started_at, to: a.ended_at, title: `attempt ${a.attempt}: ${a.outcome}${a.error ? ` (${a.error})` : ""}` });
      cursor = a.ended_at;
      lastFailed = a.outcome === "failed";
    }
    const phase = task.phase;
    if (phase.phase === "running") {
      gap(phase.started_at);
      segs.push({ cls: "run", from: phase.started_at, to: now, title: `running, ends at ${clockTime(phase.finishes_at)}` });
      segs.push({ cls: "planned", from: now, to: phase.finishes_at, title: "rest of the running attempt" });
    } else if (phase.phase === "backoff") {
      segs.push({ cls: "wait", from: cursor, to: phase.due, title: `backoff wait until ${clockTime(phase.due)}` });
    } else if (phase.phase === "queued") {
      gap(now);
    } else if (phase.phase === "failed") {
      segs.push({ cls: "idle", from: cursor, to: now, title: "failed: press Retry" });
    }
    return { id: task.id, type: task.type, status: task.status, start: task.submitted_at, segs };
  });
}

/// Rows from `/tasks` bodies (live mode): the attempt history the service
/// shows, with the running attempt dated from `updated_at`.
function serviceRows(tasks, now) {
  return [...tasks].reverse().map((task) => {
    const segs = [];
    const start = Date.parse(task.timestamp);
    let cursor = start;
    let lastFailed = false;
    for (const a of task.history ?? []) {
      const from = Date.parse(a.started_at);
      if (from > cursor) segs.push({ cls: lastFailed ? "wait" : "queued", from: cursor, to: from, title: lastFailed ? "waiting" : "queued" });
      segs.push({ cls: OUTCOME_CLASS[a.outcome], from, to: Date.parse(a.ended_at), title: `attempt ${a.attempt}: ${a.outcome}${a.error ? ` (${a.error})` : ""}` });
      cursor = Date.parse(a.ended_at);
      lastFailed = a.outcome === "failed";
    }
    if (task.next_attempt_at) {
      segs.push({ cls: "wait", from: cursor, to: Date.parse(task.next_attempt_at), title: "backoff wait" });
    } else if (task.status === "pending") {
      const since = Math.max(cursor, Date.parse(task.updated_at));
      segs.push({ cls: "run", from: since, to: Math.max(now, since), title: "running" });
    } else if (task.status === "failed") {
      segs.push({ cls: "idle", from: cursor, to: now, title: "failed: press Retry" });
    }
    return { id: task.id, type: task.type, status: task.status, start, segs };
  });
}

function drawTimeline(rows, now) {
  const box = $("timeline");
  const shown = rows.slice(-TIMELINE_ROWS);
  if (shown.length === 0) {
    box.innerHTML = '<p class="note">Each task\'s attempts appear here as the clock runs.</p>';
    return;
  }
  const width = Math.max(260, box.clientWidth);
  const narrow = width < 480;
  const labelW = narrow ? 66 : 122;
  const rowH = 24;
  const top = 6;
  const height = top + shown.length * rowH + 22;
  const t0 = Math.min(...shown.map((r) => r.start));
  // While every shown task has ended, the chart ends with them: an idle
  // clock running on would otherwise squeeze the bars into a corner.
  const settled = shown.every((r) => r.status === "success");
  let t1 = Math.max(settled ? t0 : now, ...shown.flatMap((r) => r.segs.map((s) => s.to)));
  t1 = Math.max(t1, t0 + 1000);
  const span = width - labelW - 10;
  const x = (t) => (labelW + ((t - t0) / (t1 - t0)) * span).toFixed(1);
  const w = (a, b) => Math.max(1.5, (((b - a) / (t1 - t0)) * span)).toFixed(1);

  // Grid first, so that the bars are drawn over it.
  let out = "";
  const axisY = top + shown.length * rowH + 4;
  const tick = niceStep((t1 - t0) / (narrow ? 3 : 6));
  for (let t = 0; t <= t1 - t0; t += tick) {
    out += `<line class="tick" x1="${x(t0 + t)}" x2="${x(t0 + t)}" y1="${top}" y2="${axisY}"></line>`;
    out += `<text class="axis" x="${x(t0 + t)}" y="${axisY + 13}">${esc(secs(t))}</text>`;
  }
  shown.forEach((row, i) => {
    const y = top + i * rowH;
    out += `<text class="label" x="4" y="${y + 15}">${esc(row.id.slice(0, narrow ? 6 : 8))}<tspan class="kind"> ${esc(narrow ? row.type[0].toUpperCase() : SHORT_KIND[row.type])}</tspan></text>`;
    for (const s of row.segs) {
      const title = `<title>${esc(`${row.id.slice(0, 8)} ${s.title}: ${secs(s.from - t0)} → ${secs(s.to - t0)}`)}</title>`;
      if (["ok", "fail", "interrupted", "run", "planned"].includes(s.cls)) {
        out += `<rect class="${s.cls}" x="${x(s.from)}" y="${y + 4}" width="${w(s.from, s.to)}" height="14" rx="2">${title}</rect>`;
      } else {
        out += `<line class="${s.cls}" x1="${x(s.from)}" x2="${x(s.to)}" y1="${y + 11}" y2="${y + 11}">${title}</line>`;
      }
    }
  });
  if (now <= t1) out += `<line class="now" x1="${x(now)}" x2="${x(now)}" y1="${top - 4}" y2="${axisY}"></line>`;
  const more = rows.length > shown.length ? `, the newest ${shown.length} of ${rows.length}` : "";
  box.innerHTML = `<svg role="img" aria-label="Timeline of ${rows.length} task${rows.length === 1 ? "" : "s"}${more} over ${secs(t1 - t0)}; the task table lists the same tasks." width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${out}</svg>`;
}

function niceStep(raw) {
  for (const step of [100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000]) {
    if (step >= raw) return step;
  }
  return 3600000 * Math.ceil(raw / 3600000);
}

function esc(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

// ---------------------------------------------------------------------------
// Formatting

function secs(ms) {
  const s = ms / 1000;
  if (Math.abs(s) >= 120) return `${(s / 60).toFixed(1)} min`;
  return `${Number.isInteger(s) ? s : s.toFixed(s < 10 ? 2 : 1)} s`;
}

function clockTime(ms) {
  return new Date(ms).toISOString().slice(11, 23);
}

// ---------------------------------------------------------------------------
// Drawing each mode

function renderEngine() {
  const pg = state.pg;
  const now = pg.now();
  const list = JSON.parse(pg.list(LIST_QUERY)).body;
  const files = pg.files();
  const width = $("timeline").clientWidth;
  const drawn = state.drawn;
  if (list !== drawn.list) renderTable(JSON.parse(list).tasks);
  if (files !== drawn.files) renderFiles(JSON.parse(files));
  if (list !== drawn.list || now !== drawn.now || width !== drawn.width) {
    drawTimeline(engineRows(now), now);
    renderClock(now, pg.nextWakeup());
  }
  Object.assign(drawn, { list, files, now, width });
}

function renderClock(now, next) {
  setText($("now-label"), state.live ? "Real time" : "Simulated time");
  setText($("now"), new Date(now).toISOString());
  setText($("elapsed"), state.live ? "–" : `${secs(now - state.start)}`);
  setText($("next"), next === undefined ? "nothing waiting" : `${clockTime(next)} (in ${secs(next - now)})`);
}

async function pollLive() {
  if (state.polling) return;
  state.polling = true;
  try {
    const reply = await liveService.list();
    if (!state.live) return;
    if (reply.status !== 200) throw new Error(`GET /tasks answered ${reply.status}`);
    const tasks = JSON.parse(reply.body).tasks;
    const now = Date.now();
    renderTable(tasks);
    const files = {};
    for (const t of tasks) if (t.type === "file" && t.status === "success") files[t.result.path] = null;
    renderFiles(files);
    drawTimeline(serviceRows(tasks, now), now);
    renderClock(now, undefined);
    setText($("mode-note"), "Live: the service at this origin, polled every second.");
  } catch (err) {
    setText($("mode-note"), `Live service unreachable: ${err.message}`);
  } finally {
    state.polling = false;
  }
}

async function refresh() {
  if (state.live) await pollLive();
  else renderEngine();
}

function resetViews() {
  $("task-rows").replaceChildren();
  $("files").replaceChildren();
  state.statuses.clear();
  state.drawn = { list: "", files: "", now: -1, width: 0 };
}

// ---------------------------------------------------------------------------
// The clock

function frame(ts) {
  if (state.playing && !state.live) {
    if (state.lastFrame !== null) {
      // A tab in the background gets no frames: resume without a jump.
      state.carry += Math.min(ts - state.lastFrame, 250) * state.speed;
      const whole = Math.floor(state.carry);
      if (whole > 0) {
        state.pg.advance(whole);
        state.carry -= whole;
      }
    }
    state.lastFrame = ts;
    renderEngine();
  }
  requestAnimationFrame(frame);
}

function setPlaying(on) {
  state.playing = on;
  state.lastFrame = null;
  $("play").textContent = on ? "Pause" : "Play";
  $("play").setAttribute("aria-pressed", String(on));
}

function step() {
  const at = state.pg.step();
  announce(at === undefined ? "Nothing is waiting for the clock." : `Clock at ${secs(at - state.start)}.`);
  renderEngine();
}

// ---------------------------------------------------------------------------
// Modes and sessions

function setLive(on) {
  state.live = on;
  setPlaying(false);
  document.body.classList.toggle("is-live", on);
  for (const id of ["play", "step", "export", "import"]) $(id).disabled = on;
  for (const radio of document.querySelectorAll('input[name="speed"]')) radio.disabled = on;
  resetViews();
  clearInterval(state.pollTimer);
  if (on) {
    setText($("mode-note"), "Live: connecting to the service at this origin…");
    pollLive();
    state.pollTimer = setInterval(pollLive, POLL_MS);
  } else {
    setText($("mode-note"), "In-browser engine, virtual clock.");
    renderEngine();
  }
}

function exportSession() {
  const text = state.pg.exportSession();
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const link = Object.assign(document.createElement("a"), { href: url, download: `bgtasks-session-${new Date().toISOString().replace(/[:.]/g, "-")}.json` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  setText($("session-note"), `Exported ${JSON.parse(text).events.length} events.`);
}

async function importSession() {
  const input = $("import");
  const file = input.files[0];
  if (!file) return;
  try {
    const text = await file.text();
    const next = Playground.importSession(text);
    state.pg.free();
    state.pg = next;
    state.start = JSON.parse(text).start_ms;
    setPlaying(false);
    resetViews();
    renderEngine();
    setText($("session-note"), `Imported ${file.name}: replayed to ${new Date(next.now()).toISOString()}.`);
  } catch (err) {
    setText($("session-note"), `Import failed: ${err.message}`);
  } finally {
    input.value = "";
  }
}

async function main() {
  await init();
  const seed = crypto.getRandomValues(new BigUint64Array(1))[0];
  state.start = Date.now();
  state.pg = new Playground(seed, state.start);

  $("submit-form").addEventListener("submit", onSubmit);
  $("submit-form").addEventListener("input", (e) => {
    if (e.target.name === "kind") showKind();
    else clearFieldError(e.target);
    drawSchedule();
  });
  $("play").addEventListener("click", () => setPlaying(!state.playing));
  for (const radio of document.querySelectorAll('input[name="speed"]')) {
    radio.addEventListener("change", () => (state.speed = Number(radio.value)));
  }
  $("step").addEventListener("click", step);
  $("live").addEventListener("change", (e) => setLive(e.target.checked));
  $("export").addEventListener("click", exportSession);
  $("import").addEventListener("change", importSession);
  window.addEventListener("resize", () => {
    drawSchedule();
    if (!state.live) renderEngine();
  });

  showKind();
  renderEngine();
  document.body.dataset.ready = "true";
  requestAnimationFrame(frame);
}

main();

// The submit panel: the form, the service's 422s next to their fields, and
// a preview of the attempt schedule the form's policy gives.
import { backend } from "./backend.js";
import { $, li, secs, state, statusLine } from "./util.js";

// The contract's defaults, for the schedule preview when a field is empty.
const DEFAULT_DELAY_MS = { notification: 2000, report: 3000, file: 2000, http: 0 };
const DEFAULT_ATTEMPTS = { notification: 1, report: 1, file: 1, http: 3 };
const RANGES = {
  delay_ms: [0, 60000],
  fail_attempts: [0, 10],
  max_attempts: [1, 10],
  backoff_ms: [0, 600000],
  run_in_ms: [0, 2592000000],
  timeout_ms: [100, 60000],
};
// What the virtual destination answers once a URL's script is spent.
const UNSCRIPTED = { status: 200, delay_ms: 20 };

const utf8 = new TextEncoder();
const form = () => $("submit-form");

export const currentKind = () => document.querySelector('input[name="kind"]:checked').value;

export function showKind() {
  const kind = currentKind();
  for (const set of form().querySelectorAll("fieldset[data-kind]")) set.hidden = set.dataset.kind !== kind;
  for (const set of form().querySelectorAll("fieldset[data-not-kind]")) set.hidden = set.dataset.notKind === kind;
  $("submit-btn").textContent = `Submit ${kind === "http" ? "HTTP request" : kind}`;
  $("f-delay_ms").placeholder = String(DEFAULT_DELAY_MS[kind]);
  $("f-max_attempts").placeholder = String(DEFAULT_ATTEMPTS[kind]);
  clearErrors();
  drawSchedule();
}

// A JSON number literal goes in as a number; anything else goes in as a
// string, so the service's own 422 ("Input should be a valid integer")
// explains it, next to the field.
const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const literal = (el, value) => (el.tagName !== "SELECT" && el.hasAttribute("data-number") && JSON_NUMBER.test(value) ? value : JSON.stringify(value));
const visible = (el) => !el.closest("fieldset[hidden]");

/// The request body, built from the visible fields in the order the page
/// shows them (the kind's own, `simulate`, `retry_policy`, then the start
/// and callback). JSON fields go in as typed (raw), so a syntax error is
/// the service's to report; `raw` remembers where each sits, in bytes, to
/// put that error next to its field.
function buildBody() {
  let body = "{";
  const raw = [];
  const add = (name, text, el) => {
    body += `${body === "{" ? "" : ", "}${JSON.stringify(name)}: `;
    const start = utf8.encode(body).length;
    body += text;
    if (el) raw.push({ el, start, end: utf8.encode(body).length });
  };
  const groups = new Set();
  for (const el of form().querySelectorAll("[data-loc]:not([data-header])")) {
    if (!visible(el)) continue;
    const loc = el.dataset.loc;
    const value = el.value.trim();
    const dot = loc.indexOf(".");
    if (dot > 0) {
      const group = loc.slice(0, dot);
      if (groups.has(group)) continue;
      groups.add(group);
      const members = [];
      for (const member of form().querySelectorAll(`[data-loc^="${group}."]`)) {
        const text = member.value.trim();
        if (text !== "") members.push(`${JSON.stringify(member.dataset.loc.slice(dot + 1))}: ${literal(member, text)}`);
      }
      if (members.length) add(group, `{${members.join(", ")}}`);
    } else if (el.hasAttribute("data-raw")) {
      if (value !== "") add(loc, value, el);
    } else if (el.hasAttribute("data-number") || el.hasAttribute("data-optional")) {
      if (value !== "") add(loc, literal(el, value));
    } else {
      add(loc, JSON.stringify(el.value));
    }
  }
  return { body: `${body}}`, raw };
}

async function onSubmit(event) {
  event.preventDefault();
  clearErrors();
  const kind = currentKind();
  const { body, raw } = buildBody();
  const key = $("f-key").value === "" ? undefined : $("f-key").value;
  let reply;
  try {
    reply = await backend().submit(kind, body, key);
  } catch (err) {
    formError(`No answer from the service: ${err.message}`);
    return;
  }
  const line = statusLine(reply.status);
  if (reply.status === 202) {
    const { task_id: id } = JSON.parse(reply.body);
    $("submit-result").textContent = `${line}: task ${id}`;
    await state.refresh();
  } else {
    $("submit-result").textContent = line;
    showProblem(reply.body, raw);
  }
  drawSchedule(); // a submit may have used up answers of the script
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
  if (where === "header") return $("f-key");
  for (let n = path.length; n > 0; n--) {
    const name = path.slice(0, n).join(".");
    const el = form().querySelector(`[data-loc="${CSS.escape(name)}"]`);
    if (el && visible(el)) return el;
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

const errorSlot = (el) => $(el.getAttribute("aria-describedby"));

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
  for (const slot of form().querySelectorAll(".field-error")) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const el of form().querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
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
// The attempt schedule of the form as it stands: the contract's formula
// (wait = backoff_ms, doubled per failed attempt when exponential) with the
// jitter factor taken as 1.0. An HTTP task's attempts take what the URL's
// script says (in the browser; the live destination is not known ahead).

function knob(id, fallback) {
  const text = $(id).value.trim();
  if (text === "") return fallback;
  return /^\d+$/.test(text) ? Number(text) : NaN;
}

/// What attempt `k` of an HTTP task gets from the script `answers`.
function httpAttempt(answer, timeout) {
  if (answer === "silence" || (answer.delay_ms ?? 20) > timeout) return { took: timeout, fails: true, says: "no answer in time, fails" };
  if (answer === "refused") return { took: 0, fails: true, says: "connection refused, fails" };
  const { status } = answer;
  const took = answer.delay_ms ?? 20;
  if (status >= 200 && status < 300) return { took, fails: false, says: `answers ${status}, succeeds` };
  const retryable = [408, 425, 429].includes(status) || status >= 500;
  const seconds = Number(answer.retry_after);
  const after = [429, 503].includes(status) && Number.isInteger(seconds) ? Math.min(seconds * 1000, 3600000) : 0;
  return { took, fails: true, final: !retryable, after, says: `answers ${status}, fails${retryable ? "" : " for good"}` };
}

function planSchedule() {
  const kind = currentKind();
  const http = kind === "http";
  const plan = {
    delay_ms: http ? 0 : knob("f-delay_ms", DEFAULT_DELAY_MS[kind]),
    fail_attempts: http ? 0 : knob("f-fail_attempts", 0),
    max_attempts: knob("f-max_attempts", DEFAULT_ATTEMPTS[kind]),
    backoff_ms: knob("f-backoff_ms", 1000),
    run_in_ms: knob("f-run_in_ms", 0),
    timeout_ms: http ? knob("f-timeout_ms", 10000) : 100,
  };
  for (const [name, [lo, hi]] of Object.entries(RANGES)) {
    if (!(plan[name] >= lo && plan[name] <= hi)) return { problem: `${name} must be a whole number from ${lo} to ${hi}` };
  }
  let offset = plan.run_in_ms;
  const runAt = $("f-run_at").value.trim();
  if (runAt !== "") {
    if ($("f-run_in_ms").value.trim() !== "") return { problem: "give run_at or run_in_ms, not both" };
    const at = Date.parse(runAt);
    if (Number.isNaN(at)) return { problem: "run_at is not a date and time" };
    offset = Math.max(0, at - (state.live ? Date.now() : state.pg.now()));
  }
  if (http && state.live) return { offset, unknown: true };
  const script = http ? (JSON.parse(state.pg.scripts())[$("f-url").value.trim()] ?? []) : [];
  const fixed = $("f-backoff").value === "fixed";
  const steps = [];
  let t = offset;
  for (let k = 1; k <= plan.max_attempts; k++) {
    const step = http
      ? httpAttempt(script[k - 1] ?? UNSCRIPTED, plan.timeout_ms)
      : { took: plan.delay_ms, fails: k <= plan.fail_attempts, says: k <= plan.fail_attempts ? "fails" : "succeeds" };
    Object.assign(step, { attempt: k, start: t, end: t + step.took, wait: 0 });
    steps.push(step);
    t = step.end;
    if (!step.fails || step.final) break;
    if (k < plan.max_attempts) {
      const policy = fixed ? plan.backoff_ms : plan.backoff_ms * 2 ** (k - 1);
      step.wait = Math.max(policy, step.after ?? 0);
      step.waitSaid = step.wait > policy * 1.1 ? `wait ${secs(step.wait)} (Retry-After)` : `wait ≈ ${secs(policy)} (${secs(policy * 0.9)} to ${secs(policy * 1.1)})`;
      t += step.wait;
    }
  }
  return { offset, steps, total: t, failed: steps.at(-1).fails, max: plan.max_attempts, scripted: http };
}

export function drawSchedule() {
  const list = $("schedule-list");
  const svg = $("schedule-svg");
  const plan = planSchedule();
  list.replaceChildren();
  svg.innerHTML = "";
  if (plan.problem) {
    list.append(li(`No schedule: ${plan.problem} (the service would answer 422).`, "end"));
    return;
  }
  if (plan.offset > 0) list.append(li(`Scheduled: the first attempt starts after ${secs(plan.offset)}.`, "wait"));
  if (plan.unknown) {
    list.append(li("Each attempt takes as long as the live destination takes to answer."));
    return;
  }
  if (plan.scripted) list.append(li("With the answers this URL's script has left (then 200):"));
  for (const s of plan.steps) {
    list.append(li(`Attempt ${s.attempt}: ${secs(s.start)} → ${secs(s.end)}, ${s.says}`));
    if (s.wait) list.append(li(s.waitSaid, "wait"));
  }
  if (plan.failed) list.append(li(`Then failed; Retry grants ${plan.max} more attempt${plan.max === 1 ? "" : "s"}.`, "end"));

  const width = Math.max(240, svg.clientWidth || 320);
  const x = (t) => 4 + (t / Math.max(plan.total, 1)) * (width - 8);
  let parts = plan.offset ? `<line class="scheduled" x1="${x(0)}" x2="${x(plan.offset)}" y1="10" y2="10"></line>` : "";
  for (const s of plan.steps) {
    parts += `<rect class="${s.fails ? "fail" : "ok"}" x="${x(s.start)}" y="4" width="${Math.max(2, x(s.end) - x(s.start))}" height="12" rx="2"></rect>`;
    if (s.wait) parts += `<line class="wait" x1="${x(s.end)}" x2="${x(s.end + s.wait)}" y1="10" y2="10"></line>`;
  }
  svg.setAttribute("viewBox", `0 0 ${width} 20`);
  svg.setAttribute("aria-label", `Attempt schedule: ${list.textContent}`);
  svg.innerHTML = parts;
}

export function wireForm() {
  form().addEventListener("submit", onSubmit);
  form().addEventListener("input", (e) => {
    if (e.target.name === "kind") showKind();
    else clearFieldError(e.target);
    drawSchedule();
  });
  showKind();
}

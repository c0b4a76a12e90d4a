// The task table: rows keyed by id and updated in place, so that keyboard
// focus on a row's button survives the redraws; and the actions a task
// allows in its state (Cancel while pending; Retry and Delete once ended).
import { backend } from "./backend.js";
import { $, announce, clockTime, detailOf, setText, short, state, statusLine } from "./util.js";

const COLUMNS = ["type", "status", "attempts", "retries", "outcome", "action"];
const LABELS = { type: "Type", status: "Status", attempts: "Attempts", retries: "Retries", outcome: "Result or error", action: "Actions" };
const statuses = new Map(); // id -> last status seen, to announce changes

export function renderTable(tasks) {
  const body = $("task-rows");
  const seen = new Set();
  let previous = null;
  for (const task of tasks) {
    seen.add(task.id);
    const row = body.querySelector(`tr[data-id="${task.id}"]`) ?? newRow(task.id);
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

export function resetTable() {
  $("task-rows").replaceChildren();
  statuses.clear();
}

function newRow(id) {
  const row = document.createElement("tr");
  row.dataset.id = id;
  const head = document.createElement("th");
  head.scope = "row";
  head.tabIndex = -1;
  head.dataset.col = "id";
  const code = document.createElement("code");
  code.textContent = `${short(id)}…`;
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

/// The small print under a task's status: when it starts or tries again,
/// and how its callback went.
function hints(task) {
  const out = [];
  if (task.next_attempt_at) {
    const at = clockTime(Date.parse(task.next_attempt_at));
    out.push(task.attempts === 0 ? `scheduled, starts ${at}` : `next attempt ${at}`);
  }
  if (task.callback) {
    const { state: s, attempts } = task.callback;
    out.push(`callback ${s}${attempts ? ` (${attempts} ${attempts === 1 ? "delivery" : "deliveries"})` : ""}`);
  }
  return out;
}

function updateRow(row, task) {
  const cell = (col) => row.querySelector(`[data-col="${col}"]`);
  setText(cell("type"), task.type);
  const status = cell("status");
  const notes = hints(task);
  const key = `${task.status}|${task.cancelled}|${notes.join("|")}`;
  if (status.dataset.key !== key) {
    status.dataset.key = key;
    // One wrapper, so that the phone layout's label column sees one item.
    const wrap = document.createElement("span");
    const badge = document.createElement("span");
    badge.className = `badge ${task.status}`;
    badge.textContent = task.status;
    wrap.append(badge);
    if (task.cancelled) wrap.append(" ", Object.assign(document.createElement("span"), { className: "tag cancelled", textContent: "cancelled" }));
    for (const note of notes) wrap.append(Object.assign(document.createElement("small"), { textContent: note }));
    status.replaceChildren(wrap);
  }
  setText(cell("attempts"), String(task.attempts ?? ""));
  setText(cell("retries"), String(task.retries));
  const outcome = cell("outcome");
  setText(outcome, task.error ?? (task.result ? JSON.stringify(task.result) : ""));
  outcome.classList.toggle("error", task.error != null);
  updateActions(cell("action"), task);
}

const ACTIONS = {
  cancel: { label: "Cancel", run: (id) => backend().cancel(id), done: (id) => `Task ${short(id)} cancelled.` },
  retry: { label: "Retry", run: (id) => backend().retry(id), done: (id) => `Task ${short(id)} retried.` },
  remove: { label: "Delete", run: (id) => backend().remove(id), done: (id) => `Task ${short(id)} deleted.` },
  requests: { label: "Requests", aria: (id) => `Requests sent by task ${short(id)}` },
};

function updateActions(cell, task) {
  const wanted = { pending: ["cancel"], failed: ["retry", "remove"], success: ["remove"] }[task.status];
  if (!state.live && (task.type === "http" || task.callback)) wanted.push("requests");
  if (cell.dataset.actions === wanted.join()) return;
  // Rebuilt only when the set changes: focus stays on a button that stays.
  const focused = cell.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  cell.dataset.actions = wanted.join();
  // One wrapper, so that the phone layout's label column sees one item.
  const buttons = document.createElement("span");
  buttons.className = "buttons";
  buttons.append(
    ...wanted.map((name) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `small ${name}`;
      button.dataset.action = name;
      button.textContent = ACTIONS[name].label;
      button.setAttribute("aria-label", ACTIONS[name].aria?.(task.id) ?? `${ACTIONS[name].label} task ${short(task.id)}`);
      button.addEventListener("click", () => (name === "requests" ? showRequests(task.id) : act(name, task.id)));
      return button;
    }),
  );
  cell.replaceChildren(buttons);
  if (focused) cell.querySelector(`[data-action="${focused}"]`)?.focus();
}

async function act(name, id) {
  let reply;
  try {
    reply = await ACTIONS[name].run(id);
  } catch (err) {
    announce(`${ACTIONS[name].label} failed: ${err.message}`);
    return;
  }
  const ok = reply.status === 200 || reply.status === 204;
  announce(ok ? ACTIONS[name].done(id) : `${ACTIONS[name].label} refused: ${statusLine(reply.status)}, ${detailOf(reply.body)}`);
  await state.refresh();
  // The pressed button may be gone with the state it belonged to (or the
  // row with the task): keep focus near where it was.
  if (document.activeElement === document.body || !document.activeElement?.isConnected) {
    const row = $("task-rows").querySelector(`tr[data-id="${id}"]`);
    (row?.querySelector("button") ?? row?.querySelector("th") ?? $("tasks")).focus();
  }
}

function showRequests(id) {
  $("requests-task").value = id;
  $("requests-task").dispatchEvent(new Event("change"));
  $("requests").scrollIntoView({ block: "start" });
  $("requests").focus({ preventScroll: true });
}

function announceChanges(tasks) {
  for (const task of tasks) {
    const before = statuses.get(task.id);
    if (before && before !== task.status) announce(`Task ${short(task.id)} (${task.type}) is ${task.status}${task.cancelled ? ", cancelled" : ""}.`);
    statuses.set(task.id, task.status);
  }
}

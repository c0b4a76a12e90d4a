// The timeline: one row per task over time. Attempts are bars; the waits
// between them are lines (a scheduled start, a backoff, a failed task
// until someone retries it, a cancelled one); callbacks and cancels are
// marks of their own.
import { $, clockTime, esc, secs, short, state } from "./util.js";

const TIMELINE_ROWS = 12;
const SHORT_KIND = { notification: "notif", report: "report", file: "file", http: "http" };
const OUTCOME_CLASS = { success: "ok", failed: "fail", interrupted: "interrupted" };
const LINE_TITLE = {
  scheduled: "scheduled: waiting for its start",
  queued: "queued",
  wait: "backoff wait",
  idle: "failed until retried by hand",
  cancelled: "cancelled",
};
const BARS = new Set(["ok", "fail", "interrupted", "run", "planned", "orphan"]);

function attemptTitle(a) {
  const code = a.status_code ? ` (HTTP ${a.status_code})` : "";
  return `attempt ${a.attempt}: ${a.outcome}${code}${a.error ? `, ${a.error}` : ""}`;
}

/// Rows from the engine's own records (in-browser mode): exact times.
export function engineRows(now) {
  return JSON.parse(state.pg.timeline()).map((task) => {
    const segs = [];
    const marks = [];
    const { phase } = task;
    const http = task.type === "http";
    // An attempt left running by a cancel began before it, even in the
    // same millisecond; any other start comes after a retry at its time.
    const orphaned = new Set(task.cancels.map((c) => c.orphan).filter((n) => n !== null));
    const start = (t, attempt) => ({ t, o: orphaned.has(attempt) ? 0.5 : 3, start: true });
    const starts = task.history.map((a) => start(a.started_at, a.attempt));
    // The attempts still running have begun too: they close the wait before.
    if (phase.phase === "running") starts.push(start(phase.started_at, -1));
    if (task.orphan) starts.push(start(task.orphan.started_at, task.orphan.attempt));
    const events = [
      ...starts,
      ...task.history.filter((a) => !orphaned.has(a.attempt)).map((a) => ({ t: a.ended_at, o: 0, end: a })),
      ...task.cancels.map((c) => ({ t: c.at, o: 1, cancel: true })),
      ...task.manual_retries.map((t) => ({ t, o: 2, retry: true })),
    ].sort((a, b) => a.t - b.t || a.o - b.o);

    // Walk the task's life, drawing the line of each wait as it closes.
    let line = "scheduled"; // before the first attempt, a wait only if scheduled
    let since = task.submitted_at;
    const close = (t, cls = line) => {
      if (cls && t > since) segs.push({ cls, from: since, to: t, title: LINE_TITLE[cls] });
      since = Math.max(since, t);
    };
    for (const e of events) {
      if (e.start) {
        close(e.t);
        line = null;
      } else if (e.end) {
        close(e.t);
        line = e.end.outcome === "success" ? null : "wait";
      } else if (e.cancel) {
        close(e.t);
        line = "cancelled";
        marks.push({ cls: "cancel", at: e.t, title: "cancelled" });
      } else {
        // What looked like a backoff was a failed task waiting for this.
        close(e.t, line === "wait" ? "idle" : line);
        line = "queued";
      }
    }
    if (phase.phase === "queued" && phase.due > now) {
      close(phase.due, "scheduled");
      marks.push({ cls: "start", at: phase.due, title: `starts at ${clockTime(phase.due)}` });
    } else if (phase.phase === "queued") {
      close(now);
    } else if (phase.phase === "backoff") {
      close(phase.due, "wait");
    } else if (phase.phase === "failed") {
      close(now, phase.cancelled ? "cancelled" : "idle");
    }

    for (const a of task.history) {
      const orphan = orphaned.has(a.attempt) ? ", ended after the cancel: history only" : "";
      segs.push({ cls: `${OUTCOME_CLASS[a.outcome]}${orphan ? " orphaned" : ""}`, from: a.started_at, to: a.ended_at, title: attemptTitle(a) + orphan });
    }
    if (phase.phase === "running") {
      const n = task.history.length ? task.history.at(-1).attempt + 1 : 1;
      segs.push({ cls: "run", from: phase.started_at, to: now, title: http ? `attempt ${n}: waiting for the answer` : `attempt ${n}: running, ends at ${clockTime(phase.finishes_at)}` });
      if (!http) segs.push({ cls: "planned", from: now, to: phase.finishes_at, title: "rest of the running attempt" });
    }
    if (task.orphan) {
      segs.push({ cls: "orphan", from: task.orphan.started_at, to: now, title: `attempt ${task.orphan.attempt}: still running after the cancel; its outcome goes to the history only` });
    }
    for (const c of task.callbacks) {
      const waiting = c.ends_at > now;
      marks.push({ cls: waiting ? "cb-wait" : c.ok ? "cb-ok" : "cb-fail", at: c.at, title: `callback delivery ${c.attempt}: ${waiting ? "awaiting its answer" : c.outcome}` });
    }
    return { id: task.id, type: task.type, status: task.status, start: task.submitted_at, segs, marks };
  });
}

/// Rows from `/tasks` bodies (live mode): the attempt history the service
/// shows; what it does not date (a cancel, the last callback delivery) is
/// placed at `updated_at`.
export function serviceRows(tasks, now) {
  return [...tasks].reverse().map((task) => {
    const segs = [];
    const marks = [];
    const start = Date.parse(task.timestamp);
    const updated = Date.parse(task.updated_at ?? task.timestamp);
    let cursor = start;
    let lastFailed = false;
    for (const a of task.history ?? []) {
      const from = Date.parse(a.started_at);
      if (from > cursor) {
        const cls = lastFailed ? "wait" : cursor === start && from - start >= 1000 ? "scheduled" : "queued";
        segs.push({ cls, from: cursor, to: from, title: LINE_TITLE[cls] });
      }
      segs.push({ cls: OUTCOME_CLASS[a.outcome], from, to: Date.parse(a.ended_at), title: attemptTitle(a) });
      cursor = Math.max(cursor, Date.parse(a.ended_at));
      lastFailed = a.outcome === "failed";
    }
    if (task.next_attempt_at) {
      const due = Date.parse(task.next_attempt_at);
      const cls = task.attempts === 0 ? "scheduled" : "wait";
      segs.push({ cls, from: cursor, to: due, title: LINE_TITLE[cls] });
      if (task.attempts === 0) marks.push({ cls: "start", at: due, title: `starts at ${clockTime(due)}` });
    } else if (task.status === "pending") {
      const since = Math.max(cursor, updated);
      segs.push({ cls: "run", from: since, to: Math.max(now, since), title: "running" });
    } else if (task.cancelled) {
      const at = Math.max(cursor, Math.min(updated, now));
      if (at > cursor) segs.push({ cls: task.attempts === 0 ? "scheduled" : "wait", from: cursor, to: at, title: "waiting until cancelled" });
      segs.push({ cls: "cancelled", from: at, to: now, title: LINE_TITLE.cancelled });
      marks.push({ cls: "cancel", at, title: "cancelled" });
    } else if (task.status === "failed") {
      segs.push({ cls: "idle", from: cursor, to: now, title: "failed: press Retry" });
    }
    const cb = task.callback;
    if (cb && cb.attempts > 0) {
      const cls = { delivered: "cb-ok", failed: "cb-fail", pending: "cb-wait" }[cb.state];
      marks.push({ cls, at: Math.min(updated, now), title: `callback ${cb.state} after ${cb.attempts} ${cb.attempts === 1 ? "delivery" : "deliveries"}${cb.last_error ? `: ${cb.last_error}` : ""}` });
    }
    return { id: task.id, type: task.type, status: task.status, start, segs, marks };
  });
}

function markShape(m, x, y) {
  if (m.cls === "cancel") return `<path class="mark cancel" d="M${x - 4} ${y - 4}L${x + 4} ${y + 4}M${x + 4} ${y - 4}L${x - 4} ${y + 4}">`;
  if (m.cls === "start") return `<path class="mark start" d="M${x} ${y - 8}V${y + 8}">`;
  // A callback hangs below its row's bar, which it would hide otherwise
  // (a delivery starts the moment the last attempt ends).
  const c = y + 10;
  return `<path class="mark ${m.cls}" d="M${x} ${c - 4.5}L${x + 4.5} ${c}L${x} ${c + 4.5}L${x - 4.5} ${c}Z">`;
}

export function drawTimeline(rows, now) {
  const box = $("timeline");
  const shown = rows.slice(-TIMELINE_ROWS);
  if (shown.length === 0) {
    box.innerHTML = '<p class="note">Each task\'s attempts appear here as the clock runs.</p>';
    return;
  }
  const width = Math.max(260, box.clientWidth);
  const narrow = width < 480;
  const labelW = narrow ? 66 : 122;
  const rowH = 27;
  const top = 8;
  const height = top + shown.length * rowH + 22;
  const t0 = Math.min(...shown.map((r) => r.start));
  // While every shown task has ended, the chart ends with them: an idle
  // clock running on would otherwise squeeze the bars into a corner.
  const settled = shown.every((r) => r.status === "success");
  const ends = shown.flatMap((r) => [...r.segs.map((s) => s.to), ...r.marks.map((m) => m.at)]);
  const t1 = Math.max(settled ? t0 : now, ...ends, t0 + 1000);
  const span = width - labelW - 12;
  const xn = (t) => labelW + ((t - t0) / (t1 - t0)) * span;
  const x = (t) => xn(t).toFixed(1);
  // Short attempts (an answer in 20 ms) stay visible beside long waits.
  const w = (a, b) => Math.max(3, ((b - a) / (t1 - t0)) * span).toFixed(1);

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
    const label = narrow ? row.type[0].toUpperCase() : SHORT_KIND[row.type];
    out += `<text class="label" x="4" y="${y + 15}">${esc(row.id.slice(0, narrow ? 6 : 8))}<tspan class="kind"> ${esc(label)}</tspan></text>`;
    const title = (what, from, to) => `<title>${esc(`${short(row.id)} ${what}: ${secs(from - t0)}${to === undefined ? "" : ` → ${secs(to - t0)}`}`)}</title>`;
    for (const s of row.segs) {
      if (BARS.has(s.cls.split(" ")[0])) {
        out += `<rect class="${s.cls}" x="${x(s.from)}" y="${y + 4}" width="${w(s.from, s.to)}" height="14" rx="2">${title(s.title, s.from, s.to)}</rect>`;
      } else {
        out += `<line class="${s.cls}" x1="${x(s.from)}" x2="${x(s.to)}" y1="${y + 11}" y2="${y + 11}">${title(s.title, s.from, s.to)}</line>`;
      }
    }
    for (const m of row.marks) out += `${markShape(m, Math.round(xn(m.at) * 10) / 10, y + 11)}${title(m.title, m.at)}</path>`;
  });
  if (now <= t1) out += `<line class="now" x1="${x(now)}" x2="${x(now)}" y1="${top - 6}" y2="${axisY}"></line>`;
  const more = rows.length > shown.length ? `, the newest ${shown.length} of ${rows.length}` : "";
  box.innerHTML = `<svg role="img" aria-label="Timeline of ${rows.length} task${rows.length === 1 ? "" : "s"}${more} over ${secs(t1 - t0)}; the task table lists the same tasks." width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${out}</svg>`;
}

function niceStep(raw) {
  for (const step of [100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000]) {
    if (step >= raw) return step;
  }
  return 3600000 * Math.ceil(raw / 3600000);
}

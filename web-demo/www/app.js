// The playground page: no framework, one module per panel.
//
// - util.js: shared state and helpers
// - backend.js: the in-browser engine or the live service (and its token)
// - form.js: the submit form and its schedule preview
// - tasks.js: the task table and its actions
// - timeline.js: the timeline
// - destination.js: the virtual destination's scripts and variables
// - outputs.js: files written and requests sent
//
// This module draws each mode, runs the clock, switches modes and saves
// and loads sessions.
import init, { Playground } from "/playground/pkg/bgtasks_web.js";
import { liveService, resetTokenPrompt, wireToken } from "./backend.js";
import { renderScripts, setDestinationLive, syncSettings, wireDestination } from "./destination.js";
import { drawSchedule, wireForm } from "./form.js";
import { renderFiles, renderRequests } from "./outputs.js";
import { renderTable, resetTable } from "./tasks.js";
import { drawTimeline, engineRows, serviceRows } from "./timeline.js";
import { $, LIST_QUERY, announce, clockTime, secs, setText, state } from "./util.js";

const POLL_MS = 1000;

const clock = {
  playing: false,
  speed: 1,
  lastFrame: null,
  carry: 0, // virtual milliseconds owed to the clock but not yet whole
};
let drawn = {};
let polling = false;
let pollTimer = null;

// ---------------------------------------------------------------------------
// Drawing each mode

function renderEngine() {
  const pg = state.pg;
  const now = pg.now();
  const list = JSON.parse(pg.list(LIST_QUERY)).body;
  const files = pg.files();
  const requests = pg.requests();
  const width = $("timeline").clientWidth;
  if (list !== drawn.list) renderTable(JSON.parse(list).tasks);
  if (files !== drawn.files) renderFiles(JSON.parse(files));
  if (requests !== drawn.requests || now !== drawn.now) renderRequests(JSON.parse(requests), now);
  if (list !== drawn.list || now !== drawn.now || width !== drawn.width) {
    drawTimeline(engineRows(now), now);
    renderClock(now, pg.nextWakeup());
  }
  // Requests use up answers, and the preview of an HTTP task reads them.
  if (renderScripts()) drawSchedule();
  drawn = { list, files, requests, now, width };
}

function renderClock(now, next) {
  setText($("now-label"), state.live ? "Real time" : "Simulated time");
  setText($("now"), new Date(now).toISOString());
  setText($("elapsed"), state.live ? "–" : `${secs(now - state.start)}`);
  setText($("next"), next === undefined ? "nothing waiting" : `${clockTime(next)} (in ${secs(next - now)})`);
}

async function pollLive() {
  if (polling) return;
  polling = true;
  try {
    const reply = await liveService.list();
    if (!state.live) return;
    if (reply.status === 401) {
      setText($("mode-note"), "Live: the service wants an API token.");
      return;
    }
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
    if (state.live) setText($("mode-note"), `Live service unreachable: ${err.message}`);
  } finally {
    polling = false;
  }
}

async function refresh() {
  if (state.live) await pollLive();
  else renderEngine();
}

function resetViews() {
  resetTable();
  $("files").replaceChildren();
  $("request-log").replaceChildren();
  drawn = {};
}

// ---------------------------------------------------------------------------
// The clock

function frame(ts) {
  if (clock.playing && !state.live) {
    if (clock.lastFrame !== null) {
      // A tab in the background gets no frames: resume without a jump.
      clock.carry += Math.min(ts - clock.lastFrame, 250) * clock.speed;
      const whole = Math.floor(clock.carry);
      if (whole > 0) {
        state.pg.advance(whole);
        clock.carry -= whole;
      }
    }
    clock.lastFrame = ts;
    renderEngine();
  }
  requestAnimationFrame(frame);
}

function setPlaying(on) {
  clock.playing = on;
  clock.lastFrame = null;
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
  setDestinationLive(on);
  resetTokenPrompt();
  resetViews();
  clearInterval(pollTimer);
  if (on) {
    setText($("mode-note"), "Live: connecting to the service at this origin…");
    renderRequests(null, 0);
    pollLive();
    pollTimer = setInterval(pollLive, POLL_MS);
  } else {
    setText($("mode-note"), "In-browser engine, virtual clock.");
    renderEngine();
  }
  drawSchedule();
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
    syncSettings();
    renderEngine();
    drawSchedule();
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
  state.refresh = refresh;

  wireForm();
  wireDestination();
  wireToken();
  syncSettings();
  $("play").addEventListener("click", () => setPlaying(!clock.playing));
  for (const radio of document.querySelectorAll('input[name="speed"]')) {
    radio.addEventListener("change", () => (clock.speed = Number(radio.value)));
  }
  $("step").addEventListener("click", step);
  $("live").addEventListener("change", (e) => setLive(e.target.checked));
  $("export").addEventListener("click", exportSession);
  $("import").addEventListener("change", importSession);
  $("requests-task").addEventListener("change", () => {
    if (!state.live) renderRequests(JSON.parse(state.pg.requests()), state.pg.now());
  });
  window.addEventListener("resize", () => {
    drawSchedule();
    if (!state.live) renderEngine();
  });

  renderEngine();
  document.body.dataset.ready = "true";
  requestAnimationFrame(frame);
}

main();

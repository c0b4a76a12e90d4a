// The virtual destination panel: the script of answers per URL, and the
// service variables the playground stands in for (permitted destinations,
// signing secret, retention). In-browser mode only: the live service has
// real destinations and its own variables.
import { drawSchedule } from "./form.js";
import { $, describeAnswer, setText, state } from "./util.js";

const controls = () => $("destination").querySelectorAll("input, textarea, button");

function showError(id, message) {
  const slot = $(`err-${id}`);
  slot.textContent = message ?? "";
  slot.hidden = !message;
  if (message) $(id).setAttribute("aria-invalid", "true");
  else $(id).removeAttribute("aria-invalid");
}

/// Runs a setting of the Playground; its thrown message goes next to `id`.
function attempt(id, set) {
  try {
    set();
    showError(id, null);
    return true;
  } catch (err) {
    showError(id, err.message);
    return false;
  }
}

function onScript(event) {
  event.preventDefault();
  const url = $("d-url").value.trim();
  if (!attempt("d-answers", () => state.pg.script(url, $("d-answers").value))) {
    $("d-answers").focus();
    return;
  }
  const left = JSON.parse(state.pg.scripts())[url]?.length ?? 0;
  setText($("destination-result"), left ? `${url} answers the next ${left} request${left === 1 ? "" : "s"} as scripted, then 200.` : `${url} has no script: it answers 200.`);
  renderScripts();
  drawSchedule();
}

function addAnswer(preset) {
  const box = $("d-answers");
  let answers;
  try {
    answers = JSON.parse(box.value);
    if (!Array.isArray(answers)) answers = [];
  } catch {
    answers = [];
  }
  answers.push(JSON.parse(preset));
  box.value = `[${answers.map((a) => JSON.stringify(a)).join(", ")}]`;
  showError("d-answers", null);
}

function onSettings(event) {
  event.preventDefault();
  const retention = $("s-retention").value.trim();
  const ok = [
    attempt("s-destinations", () => state.pg.setDestinations($("s-destinations").value)),
    attempt("s-secret", () => state.pg.setSecret($("s-secret").value)),
    attempt("s-retention", () => {
      if (!/^\d+$/.test(retention)) throw new Error("retention_seconds must be a whole number of seconds");
      state.pg.setRetention(Number(retention));
    }),
  ];
  setText($("destination-result"), ok.every(Boolean) ? "Variables applied." : "Some variables were not applied: see above.");
  state.refresh();
}

/// The inputs show the playground's settings (after an import, say).
export function syncSettings() {
  const settings = JSON.parse(state.pg.settings());
  $("s-destinations").value = settings.destinations;
  $("s-secret").value = settings.secret;
  $("s-retention").value = String(settings.retention_seconds);
  for (const id of ["s-destinations", "s-secret", "s-retention", "d-answers"]) showError(id, null);
  renderScripts();
}

let drawnScripts = "";

/// Lists the answers left; returns whether they changed since last drawn.
export function renderScripts() {
  const text = state.pg.scripts();
  if (text === drawnScripts) return false;
  drawnScripts = text;
  const list = $("scripts");
  const scripts = Object.entries(JSON.parse(text));
  list.replaceChildren(
    ...scripts.map(([url, answers]) => {
      const item = document.createElement("li");
      item.append(Object.assign(document.createElement("code"), { textContent: url }), `: ${answers.map(describeAnswer).join(" → ")}, then 200`);
      return item;
    }),
  );
  if (scripts.length === 0) list.append(Object.assign(document.createElement("li"), { className: "note", textContent: "None: every URL answers 200 after 20 ms." }));
  return true;
}

export function setDestinationLive(live) {
  for (const el of controls()) el.disabled = live;
  setText(
    $("destination-note"),
    live
      ? "Live: HTTP tasks and callbacks go to the real destinations, as the service's own http_destinations, webhook_secret and retention_seconds allow."
      : "HTTP tasks and callbacks go to a destination that answers as you script it, per URL: one answer per request, then 200.",
  );
  if (!live) drawnScripts = "";
}

export function wireDestination() {
  $("script-form").addEventListener("submit", onScript);
  $("settings-form").addEventListener("submit", onSettings);
  $("script-clear").addEventListener("click", () => {
    $("d-answers").value = "[]";
    $("d-answers").focus();
  });
  for (const button of $("destination").querySelectorAll("[data-answer]")) {
    button.addEventListener("click", () => addAnswer(button.dataset.answer));
  }
}

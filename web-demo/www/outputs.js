// What tasks leave behind: the files file tasks write, and the requests
// HTTP tasks and callbacks send (in the browser, to the virtual
// destination; the live service's requests leave the page's sight).
import { liveService } from "./backend.js";
import { $, clockTime, describeAnswer, setText, short } from "./util.js";

// ---------------------------------------------------------------------------
// Files

/// `files`: path → content, or → null for a live file read when opened.
export function renderFiles(files) {
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
// Requests sent

const SHOWN_REQUESTS = 60;

/// `sent`: the playground's requests, oldest first (null in live mode).
export function renderRequests(sent, now) {
  const select = $("requests-task");
  const log = $("request-log");
  if (sent === null) {
    log.replaceChildren();
    setText($("requests-note"), "Live: the service sends real requests to the destinations themselves; they are not shown here.");
    return;
  }
  setText($("requests-note"), sent.length ? "Each request an HTTP task or a callback sent, with its headers and body, and the answer it got." : "None yet: HTTP tasks and callbacks send requests to the virtual destination.");
  syncOptions(select, [...new Set(sent.map((r) => r.task))]);
  const wanted = sent.filter((r) => !select.value || r.task === select.value).slice(-SHOWN_REQUESTS).reverse();
  const keys = new Set();
  let previous = null;
  for (const r of wanted) {
    const key = `${r.task}|${r.kind}|${r.attempt}|${r.at}`;
    keys.add(key);
    let item = log.querySelector(`li[data-key="${CSS.escape(key)}"]`);
    if (!item) item = newRequest(r, key);
    const waiting = r.ends_at > now;
    setText(item.querySelector(".outcome"), waiting ? `awaiting the answer (at ${clockTime(r.ends_at)})` : r.outcome);
    item.classList.toggle("failed", !waiting && !r.ok);
    const expected = previous ? previous.nextElementSibling : log.firstElementChild;
    if (expected !== item) log.insertBefore(item, expected);
    previous = item;
  }
  for (const item of [...log.children]) if (!keys.has(item.dataset.key)) item.remove();
}

function syncOptions(select, tasks) {
  const have = [...select.options].slice(1).map((o) => o.value);
  if (have.join() === tasks.join()) return;
  const chosen = select.value;
  select.replaceChildren(new Option("every task", ""), ...tasks.map((id) => new Option(`task ${short(id)}`, id)));
  select.value = tasks.includes(chosen) ? chosen : "";
}

function newRequest(r, key) {
  const item = document.createElement("li");
  item.dataset.key = key;
  item.dataset.task = r.task;
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  const what = r.kind === "callback" ? `callback delivery ${r.attempt}` : `attempt ${r.attempt}`;
  summary.append(
    Object.assign(document.createElement("span"), { className: "when", textContent: `${clockTime(r.at)} · task ${short(r.task)} · ${what}` }),
    Object.assign(document.createElement("code"), { textContent: `${r.method} ${r.url}` }),
    Object.assign(document.createElement("span"), { className: "outcome" }),
  );
  const headers = r.headers.map(([name, value]) => `${name}: ${value}`).join("\n");
  const answer = `${describeAnswer(r.answer)}${r.scripted ? " (scripted)" : " (no script: the default)"}`;
  const pre = Object.assign(document.createElement("pre"), { textContent: `${r.method} ${r.url}\n${headers}\n\n${r.body}\n\n→ ${answer}` });
  details.append(summary, pre);
  item.append(details);
  return item;
}

// The two backends. Both answer the same calls with {status, body}: the
// engine compiled to wasm on a virtual clock, or the live service over
// fetch. Everything else draws whichever is active, from the contract's own
// JSON, so the two modes cannot drift apart.
//
// Live mode asks for the API token when the service wants one (401 with
// `WWW-Authenticate: Bearer`). The token lives in this module's memory only
// — never in storage or cookies — so it is gone with the tab.
import { $, LIST_QUERY, state } from "./util.js";

const ROUTES = { notification: "/notify/", report: "/report/", file: "/file/", http: "/http/" };
const path = (prefix, id) => `${prefix}${encodeURIComponent(id)}`;

const inBrowser = {
  submit: async (kind, body, key) => JSON.parse(state.pg.submit(kind, body, key)),
  retry: async (id) => JSON.parse(state.pg.retry(id)),
  cancel: async (id) => JSON.parse(state.pg.cancel(id)),
  remove: async (id) => JSON.parse(state.pg.delete(id)),
  list: async () => JSON.parse(state.pg.list(LIST_QUERY)),
  output: async (id) => JSON.parse(state.pg.output(id)),
};

export const liveService = {
  submit: (kind, body, key) => request("POST", ROUTES[kind], body, key),
  retry: (id) => request("POST", path("/retry-task/", id)),
  cancel: (id) => request("POST", path("/cancel-task/", id)),
  remove: (id) => request("DELETE", path("/tasks/", id)),
  list: () => request("GET", `/tasks?${LIST_QUERY}`),
  output: (id) => request("GET", `${path("/outputs/", id)}.json`),
};

export const backend = () => (state.live ? liveService : inBrowser);

let token = null;
// The open prompt: requests that meet a 401 meanwhile wait for the same one.
let asking = null;
// The person cancelled the prompt: polling must not reopen it every second.
let declined = false;

async function request(method, route, body, key) {
  for (;;) {
    const headers = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (key !== undefined) headers["idempotency-key"] = key;
    const sent = token;
    if (sent !== null) headers.authorization = `Bearer ${sent}`;
    const res = await fetch(route, { method, headers, body, cache: "no-store" });
    const reply = { status: res.status, body: await res.text() };
    if (res.status !== 401 || !/^bearer\b/i.test(res.headers.get("www-authenticate") ?? "")) return reply;
    // Someone entered a token while this request was out: try that first.
    if (token !== sent) continue;
    if (!(await askToken(sent !== null))) return reply;
  }
}

/// Opens the token dialog; resolves to whether a token was given.
function askToken(refused) {
  if (declined) return Promise.resolve(false);
  asking ??= new Promise((resolve) => {
    const dialog = $("token-dialog");
    const input = $("token");
    $("token-refused").hidden = !refused;
    input.value = "";
    dialog.returnValue = "";
    dialog.addEventListener(
      "close",
      () => {
        // Esc closes it too, with no return value: a cancel.
        const given = dialog.returnValue === "ok" && input.value !== "";
        if (given) token = input.value;
        else declined = true;
        input.value = "";
        asking = null;
        showTokenState();
        resolve(given);
      },
      { once: true },
    );
    dialog.showModal();
  });
  return asking;
}

function showTokenState() {
  const on = state.live && (token !== null || declined);
  $("token-state").hidden = !on;
  $("token-text").textContent = token !== null ? "API token in use, kept in this tab's memory only." : "The service wants an API token.";
  $("forget-token").hidden = token === null;
  $("enter-token").hidden = token !== null;
}

/// Live mode was switched on or off: a token prompt cancelled before may
/// be shown again.
export function resetTokenPrompt() {
  declined = false;
  showTokenState();
}

export function wireToken() {
  $("forget-token").addEventListener("click", () => {
    // Not asked again at the next poll: the button offers it instead.
    token = null;
    declined = true;
    showTokenState();
    $("enter-token").focus();
    state.refresh();
  });
  $("enter-token").addEventListener("click", () => {
    declined = false;
    showTokenState();
    state.refresh();
  });
}

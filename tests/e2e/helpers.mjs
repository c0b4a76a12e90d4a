// What every scenario file shares: the static server and the browser, a
// page that fails its scenario on console errors, and the moves a person
// makes on the page.
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "./server.mjs";

export const DIST = fileURLToPath(new URL("../../web-demo/dist/", import.meta.url));
export const ARTIFACTS = fileURLToPath(new URL("../artifacts/", import.meta.url));
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };
export const LIVE_URL = process.env.BGTASKS_LIVE_URL;
export const TOKEN_URL = process.env.BGTASKS_TOKEN_URL;
export const TOKEN = process.env.BGTASKS_TOKEN;
export const HOOK = "https://hooks.example.com/orders";

let server;
let browser;

/// Registers the hooks of a test file: one static server and one browser.
export function useBrowser() {
  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    server = await startServer({ dist: DIST, liveUrl: LIVE_URL });
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });
}

/// Opens the page at `viewport`, runs `scenario`, then fails if the page
/// logged any console error (but those matching `expected`) or threw.
export async function withPage(viewport, scenario, base = server.url, expected = []) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (msg) => {
    if (msg.type() === "error" && !expected.some((re) => re.test(msg.text()))) {
      problems.push(`console error: ${msg.text()} (${msg.location().url})`);
    }
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  try {
    await open(page, base);
    await scenario(page);
  } finally {
    await context.close();
  }
  assert.deepEqual(problems, [], "the page logged errors");
}

export async function open(page, base) {
  await page.goto(`${base}/`);
  await page.waitForSelector("body[data-ready=true]");
}

export async function shot(page, name) {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

export const FIELDS = {
  email: "#f-email",
  message: "#f-message",
  name: "#f-name",
  details: "#f-details",
  content: "#f-content",
  delay_ms: "#f-delay_ms",
  fail_attempts: "#f-fail_attempts",
  max_attempts: "#f-max_attempts",
  backoff_ms: "#f-backoff_ms",
  key: "#f-key",
  url: "#f-url",
  headers: "#f-headers",
  http_body: "#f-http-body",
  timeout_ms: "#f-timeout_ms",
  run_in_ms: "#f-run_in_ms",
  run_at: "#f-run_at",
  callback_url: "#f-callback_url",
};

export async function fillForm(page, kind, fields) {
  await page.check(`input[name=kind][value=${kind}]`);
  for (const [name, value] of Object.entries(fields)) {
    if (name === "method") await page.selectOption("#f-method", value);
    else await page.fill(FIELDS[name], value);
  }
}

/// Sets the virtual destination's script for `url` from its panel.
export async function script(page, url, answers) {
  await page.fill("#d-url", url);
  await page.fill("#d-answers", answers);
  await page.click("#script-btn");
  await page.waitForFunction((url) => document.getElementById("scripts").textContent.includes(url), url);
}

/// Submits through the form and returns the new task's id.
export async function submitTask(page, kind, fields = {}) {
  await fillForm(page, kind, fields);
  await page.click("#submit-btn");
  await page.waitForFunction(() => /^202 /.test(document.getElementById("submit-result").textContent));
  const text = await page.textContent("#submit-result");
  const id = text.match(/task ([0-9a-f-]{36})/)[1];
  await page.waitForSelector(`tr[data-id="${id}"]`);
  return id;
}

export const statusOf = (page, id) => page.textContent(`tr[data-id="${id}"] [data-col=status] .badge`);
export const cellOf = (page, id, col) => page.textContent(`tr[data-id="${id}"] [data-col=${col}]`);

/// Presses "Step to next event" until the task has `status`.
export async function stepUntil(page, id, status) {
  for (let i = 0; i < 20; i++) {
    if ((await statusOf(page, id)) === status) return;
    await page.click("#step");
  }
  assert.equal(await statusOf(page, id), status, `task ${id} never reached ${status}`);
}

/// Waits, in live mode, for the service to show the task with `status`.
export async function liveStatus(page, id, status) {
  await page.waitForFunction(
    ([id, status]) => document.querySelector(`tr[data-id="${id}"] .badge`)?.textContent === status,
    [id, status],
    { timeout: 15000 },
  );
}

export const requestLog = (page) => page.$$eval("#request-log li", (items) => items.map((li) => li.querySelector("pre").textContent));

export const tableRows = (page) =>
  page.$$eval("#task-rows tr", (rows) => rows.map((row) => [...row.children].map((cell) => cell.textContent.trim())));

/// What a session shows: the table, files, requests, settings and clock.
export async function observable(page) {
  return {
    rows: await tableRows(page),
    files: await page.$$eval("#files details", (ds) => ds.map((d) => [d.dataset.path, d.querySelector("pre").textContent])),
    requests: await requestLog(page),
    settings: await page.$$eval("#settings-form input", (inputs) => inputs.map((i) => i.value)),
    scripts: await page.textContent("#scripts"),
    timeline: await page.$$eval("#timeline svg > *:not(.now)", (els) => els.length),
    now: await page.textContent("#now"),
    next: await page.textContent("#next"),
  };
}

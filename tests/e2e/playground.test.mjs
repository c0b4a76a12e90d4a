// The playground page in headless Chromium: what a person sees and does.
//
// Every scenario fails on any console error or uncaught page error. The
// Live scenario needs BGTASKS_LIVE_URL (the service's base URL) and fails
// without it: it is never skipped.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, copyFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "./server.mjs";

const DIST = fileURLToPath(new URL("../../web-demo/dist/", import.meta.url));
const ARTIFACTS = fileURLToPath(new URL("../artifacts/", import.meta.url));
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const LIVE_URL = process.env.BGTASKS_LIVE_URL;

let server;
let browser;

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

/// Opens the page at `viewport`, runs `scenario`, then fails if the page
/// logged any console error or threw.
async function withPage(viewport, scenario, base = server.url) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error: ${msg.text()} (${msg.location().url})`);
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

async function open(page, base) {
  await page.goto(`${base}/`);
  await page.waitForSelector("body[data-ready=true]");
}

async function shot(page, name) {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

const FIELDS = {
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
};

async function fillForm(page, kind, fields) {
  await page.check(`input[name=kind][value=${kind}]`);
  for (const [name, value] of Object.entries(fields)) await page.fill(FIELDS[name], value);
}

/// Submits through the form and returns the new task's id.
async function submitTask(page, kind, fields = {}) {
  await fillForm(page, kind, fields);
  await page.click("#submit-btn");
  await page.waitForFunction(() => /^202 /.test(document.getElementById("submit-result").textContent));
  const text = await page.textContent("#submit-result");
  const id = text.match(/task ([0-9a-f-]{36})/)[1];
  await page.waitForSelector(`tr[data-id="${id}"]`);
  return id;
}

const statusOf = (page, id) => page.textContent(`tr[data-id="${id}"] [data-col=status] .badge`);
const cellOf = (page, id, col) => page.textContent(`tr[data-id="${id}"] [data-col=${col}]`);

/// Presses "Step to next event" until the task has `status`.
async function stepUntil(page, id, status) {
  for (let i = 0; i < 20; i++) {
    if ((await statusOf(page, id)) === status) return;
    await page.click("#step");
  }
  assert.equal(await statusOf(page, id), status, `task ${id} never reached ${status}`);
}

const tableRows = (page) =>
  page.$$eval("#task-rows tr", (rows) => rows.map((row) => [...row.children].map((cell) => cell.textContent.trim())));

test("the page loads, labelled and error-free, with an empty table", async () => {
  await withPage(DESKTOP, async (page) => {
    assert.equal(await page.title(), "bgtasks playground");
    assert.equal(await page.isVisible("#empty"), true);
    // Every control has a name a screen reader can say.
    const unnamed = await page.$$eval("input, select, textarea, button", (els) =>
      els.filter((el) => !(el.labels?.length || el.getAttribute("aria-label") || (el.tagName === "BUTTON" && el.textContent.trim()))).map((el) => el.outerHTML),
    );
    assert.deepEqual(unnamed, []);
    assert.match(await page.textContent(".schedule"), /approximate/i);
    await shot(page, "desktop-empty");
  });
});

test("each task type reaches success on the virtual clock", async () => {
  await withPage(DESKTOP, async (page) => {
    const note = await submitTask(page, "notification", { delay_ms: "500" });
    assert.equal(await statusOf(page, note), "pending");
    await stepUntil(page, note, "success");
    assert.match(await cellOf(page, note, "outcome"), /"delivered_to":"johndoe@example.com"/);

    const report = await submitTask(page, "report");
    const file = await submitTask(page, "file");
    await page.check("input[name=speed][value='100']");
    await page.click("#play");
    await page.waitForFunction(
      (ids) => ids.every((id) => document.querySelector(`tr[data-id="${id}"] .badge`)?.textContent === "success"),
      [report, file],
      { timeout: 15000 },
    );
    await page.click("#play"); // pause
    assert.equal(await page.getAttribute("#play", "aria-pressed"), "false");
    assert.match(await cellOf(page, report, "outcome"), /"message":"Report generated"/);

    // The file task's file is listed and readable.
    const summary = page.locator("#files summary", { hasText: `outputs/${file}.json` });
    await summary.click();
    assert.equal(
      await page.textContent(`#files details[data-path="outputs/${file}.json"] pre`),
      '{\n  "user": "johndoe",\n  "activity": "export"\n}',
    );
    assert.equal(await page.locator("#timeline rect.ok").count(), 3);
    await shot(page, "desktop-success");
  });
});

test("an injected failure is retried by hand and then succeeds", async () => {
  await withPage(DESKTOP, async (page) => {
    const id = await submitTask(page, "report", { delay_ms: "300", fail_attempts: "1" });
    await stepUntil(page, id, "failed");
    assert.equal(await cellOf(page, id, "outcome"), "simulated failure (attempt 1 of 1)");
    // Let the failed task sit for a while on the running clock.
    await page.click("#play");
    await page.waitForFunction(() => parseFloat(document.getElementById("elapsed").textContent) >= 0.6);
    await page.click("#play");
    await shot(page, "desktop-failed");

    await page.click(`tr[data-id="${id}"] button.retry`);
    assert.equal(await statusOf(page, id), "pending");
    await stepUntil(page, id, "success");
    assert.equal(await cellOf(page, id, "retries"), "1");
    assert.equal(await cellOf(page, id, "attempts"), "2");
    assert.equal(await page.locator("#timeline rect.fail").count(), 1);
    assert.equal(await page.locator("#timeline line.idle").count(), 1, "the failed stretch until the retry");
  });
});

test("automatic retries wait as the previewed schedule says", async () => {
  await withPage(DESKTOP, async (page) => {
    await fillForm(page, "file", { delay_ms: "100", fail_attempts: "2", max_attempts: "3", backoff_ms: "1000" });
    const preview = await page.textContent("#schedule-list");
    assert.match(preview, /Attempt 1: 0 s → 0\.10 s, fails/);
    assert.match(preview, /wait ≈ 1 s \(0\.90 s to 1\.10 s\)/);
    assert.match(preview, /wait ≈ 2 s/);
    assert.match(preview, /Attempt 3: .*succeeds/);
    await shot(page, "desktop-schedule");

    const id = await submitTask(page, "file", {});
    await page.click("#step"); // attempt 1 fails; a backoff wait begins
    assert.match(await cellOf(page, id, "status"), /pending\s*next attempt/);
    assert.equal(await page.locator("#timeline line.wait").count(), 1);
    await stepUntil(page, id, "success");
    assert.equal(await cellOf(page, id, "attempts"), "3");
    assert.equal(await cellOf(page, id, "retries"), "0");
  });
});

test("the contract's 422 errors appear next to their fields", async () => {
  await withPage(DESKTOP, async (page) => {
    await fillForm(page, "notification", { email: "not-an-email", delay_ms: "99999", max_attempts: "5.0", key: "" });
    await page.click("#submit-btn");
    await page.waitForFunction(() => /^422 /.test(document.getElementById("submit-result").textContent));
    assert.equal(await page.isVisible("#err-email"), true);
    assert.match(await page.textContent("#err-simulate-delay_ms"), /less than or equal to 60000/);
    assert.match(await page.textContent("#err-retry_policy-max_attempts"), /valid integer/);
    assert.equal(await page.getAttribute("#f-delay_ms", "aria-invalid"), "true");
    assert.equal(await page.isVisible("#empty"), true, "nothing was stored");

    await fillForm(page, "report", { details: '{"month": ' });
    await page.click("#submit-btn");
    await page.waitForSelector("#err-details:not([hidden])");
    assert.match(await page.textContent("#err-details"), /JSON decode error/);
    await shot(page, "desktop-422");
  });
});

test("the form submits from the keyboard alone", async () => {
  await withPage(DESKTOP, async (page) => {
    await page.focus("#f-email");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => /^202 /.test(document.getElementById("submit-result").textContent));
    await page.focus("#step");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Space");
    assert.equal(await page.textContent("#task-rows .badge"), "success");
  });
});

test("an exported session imports to the identical table, files and clock", async () => {
  let exported;
  let before;
  await withPage(DESKTOP, async (page) => {
    const ok = await submitTask(page, "file", { delay_ms: "250" });
    await stepUntil(page, ok, "success");
    const bad = await submitTask(page, "notification", { fail_attempts: "1", key: "demo-1" });
    await stepUntil(page, bad, "failed");
    await page.click(`tr[data-id="${bad}"] button.retry`);
    await page.click("#step"); // the retried attempt succeeds
    await page.fill("#f-fail_attempts", "");
    // Exported mid-run: the import must land inside this attempt too.
    await submitTask(page, "report", { max_attempts: "2", key: "" });

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
    exported = `${ARTIFACTS}session.json`;
    await copyFile(await download.path(), exported);
    before = {
      rows: await tableRows(page),
      files: await page.$$eval("#files details", (ds) => ds.map((d) => [d.dataset.path, d.querySelector("pre").textContent])),
      now: await page.textContent("#now"),
      next: await page.textContent("#next"),
    };
    assert.equal(before.rows.length, 3);
  });
  await withPage(DESKTOP, async (page) => {
    assert.equal(await page.isVisible("#empty"), true, "a fresh page starts empty");
    await page.setInputFiles("#import", exported);
    await page.waitForFunction(() => /^Imported /.test(document.getElementById("session-note").textContent));
    const after = {
      rows: await tableRows(page),
      files: await page.$$eval("#files details", (ds) => ds.map((d) => [d.dataset.path, d.querySelector("pre").textContent])),
      now: await page.textContent("#now"),
      next: await page.textContent("#next"),
    };
    assert.deepEqual(after, before);
    await shot(page, "desktop-imported");
  });
});

test("an import of a file that is not a session says so", async () => {
  await withPage(DESKTOP, async (page) => {
    const junk = `${ARTIFACTS}not-a-session.json`;
    await writeFile(junk, '{"hello": "world"}');
    await page.setInputFiles("#import", junk);
    await page.waitForFunction(() => /^Import failed/.test(document.getElementById("session-note").textContent));
  });
});

test("the page is readable at phone width (390 px)", async () => {
  await withPage(PHONE, async (page) => {
    const ok = await submitTask(page, "report", { delay_ms: "400" });
    const bad = await submitTask(page, "file", { delay_ms: "400", fail_attempts: "1" });
    await stepUntil(page, ok, "success");
    await stepUntil(page, bad, "failed");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
    await shot(page, "phone");
    await page.locator("#tasks").screenshot({ path: `${ARTIFACTS}phone-tasks.png` });
  });
});

test("live mode drives the real service", async () => {
  assert.ok(
    LIVE_URL,
    "BGTASKS_LIVE_URL is not set: start the service (`spin up`, or `cargo run --release -p bgtasks-tests --example serve`, which prints its URL) and set BGTASKS_LIVE_URL to its base URL, e.g. http://127.0.0.1:3000",
  );
  await withPage(DESKTOP, async (page) => {
    await page.check("#live");
    await page.waitForFunction(() => /^Live: the service/.test(document.getElementById("mode-note").textContent), null, { timeout: 10000 });
    assert.equal(await page.isDisabled("#step"), true, "the virtual clock is off in live mode");
    const id = await submitTask(page, "file", { delay_ms: "300", content: '{"live": true}' });
    await page.waitForFunction(
      (id) => document.querySelector(`tr[data-id="${id}"] .badge`)?.textContent === "success",
      id,
      { timeout: 15000 },
    );
    const summary = page.locator("#files summary", { hasText: `outputs/${id}.json` });
    await summary.click();
    await page.waitForFunction((id) => document.querySelector(`#files details[data-path="outputs/${id}.json"] pre`)?.textContent.includes('"live": true'), id);
    await shot(page, "desktop-live");
  }, LIVE_URL); // the page as the service itself serves it at `/`
});

// Live mode: the page driving the real service at its own origin.
//
// Every scenario fails on any console error or uncaught page error (the
// token prompt's scenario allows exactly the browser's own line for the 401
// it provokes). They need BGTASKS_LIVE_URL (the service's base URL), and the
// token prompt BGTASKS_TOKEN_URL and BGTASKS_TOKEN (a service that wants
// that token; run.sh starts one): they fail without them, never skipped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useBrowser, DESKTOP, LIVE_URL, TOKEN_URL, TOKEN, withPage, shot, submitTask, cellOf, liveStatus } from "./helpers.mjs";

useBrowser();

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

test("live mode schedules, cancels and deletes on the real service", async () => {
  assert.ok(LIVE_URL, "BGTASKS_LIVE_URL is not set (see the live mode scenario)");
  await withPage(DESKTOP, async (page) => {
    await page.check("#live");
    await page.waitForFunction(() => /^Live: the service/.test(document.getElementById("mode-note").textContent), null, { timeout: 10000 });
    assert.equal(await page.isDisabled("#script-btn"), true, "the virtual destination is off in live mode");
    const id = await submitTask(page, "report", { delay_ms: "300", run_in_ms: "60000" });
    assert.match(await cellOf(page, id, "status"), /scheduled, starts/);
    await page.waitForSelector("#timeline line.scheduled", { state: "attached" });
    await page.click(`tr[data-id="${id}"] button.cancel`);
    await liveStatus(page, id, "failed");
    assert.equal(await cellOf(page, id, "outcome"), "cancelled");
    await page.waitForSelector(`tr[data-id="${id}"] .tag.cancelled`);
    await shot(page, "desktop-live-cancelled");
    await page.click(`tr[data-id="${id}"] button.remove`);
    await page.waitForSelector(`tr[data-id="${id}"]`, { state: "detached" });
    const status = await fetch(`${LIVE_URL}/status/${id}`);
    assert.equal(status.status, 404, "deleted on the service");
  }, LIVE_URL);
});

test("live mode asks for the API token when the service wants one, and keeps it in memory only", async () => {
  assert.ok(TOKEN_URL && TOKEN, "BGTASKS_TOKEN_URL and BGTASKS_TOKEN are not set: tests/e2e/run.sh starts a service with an API token");
  // The browser logs every 401 it receives: those, and only those, are expected.
  const unauthorized = /status of 401 \(Unauthorized\)/;
  await withPage(DESKTOP, async (page) => {
    const sent = [];
    page.on("request", (req) => {
      if (new URL(req.url()).pathname.startsWith("/tasks")) sent.push(req.headers().authorization ?? null);
    });
    await page.check("#live");
    await page.waitForSelector("#token-dialog[open]");
    assert.equal(await page.evaluate(() => document.activeElement.id), "token", "the token field has focus");
    assert.equal(await page.isVisible("#token-refused"), false);
    await shot(page, "desktop-token");

    await page.fill("#token", "not-the-token");
    await page.click("#token-ok");
    await page.waitForSelector("#token-refused:not([hidden])");
    assert.equal(await page.isVisible("#token-dialog"), true, "asked again");
    await page.fill("#token", TOKEN);
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => /^Live: the service/.test(document.getElementById("mode-note").textContent), null, { timeout: 10000 });
    assert.match(await page.textContent("#token-state"), /API token in use/);
    assert.equal(sent.at(-1), `Bearer ${TOKEN}`);

    // A real HTTP task: the service calls its own health check.
    const id = await submitTask(page, "http", { url: `${TOKEN_URL}/healthz`, method: "GET", http_body: "", headers: "" });
    await liveStatus(page, id, "success");
    assert.match(await cellOf(page, id, "outcome"), /"status_code":200/);

    const stored = await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
    assert.deepEqual(stored, [0, 0, ""], "nothing kept beyond the page's memory");

    // Forgotten: the next poll is refused, and the page offers to ask again
    // rather than opening the dialog every second.
    await page.click("#forget-token");
    await page.waitForFunction(() => /wants an API token/.test(document.getElementById("mode-note").textContent));
    assert.equal(await page.isVisible("#token-dialog"), false);
    assert.equal(await page.isVisible("#enter-token"), true);
  }, TOKEN_URL, [unauthorized]);
});

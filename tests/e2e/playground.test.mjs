// The playground page in headless Chromium: what a person sees and does,
// on the virtual clock (the v1 features, the session and the phone).
//
// Every scenario fails on any console error or uncaught page error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, writeFile } from "node:fs/promises";
import { useBrowser, ARTIFACTS, DESKTOP, PHONE, HOOK, withPage, shot, fillForm, script, submitTask, statusOf, cellOf, stepUntil, observable } from "./helpers.mjs";

useBrowser();

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
    // The v2 inputs replay too: a script, a secret, an HTTP task with a
    // callback, a scheduled task cancelled and a finished one deleted.
    await script(page, HOOK, '[{"status": 503, "retry_after": 1}]');
    await page.fill("#s-secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    await page.click("#settings-btn");
    const http = await submitTask(page, "http", { key: "", callback_url: "https://hooks.example.com/done" });
    await stepUntil(page, http, "success");
    const gone = await submitTask(page, "report", { callback_url: "", run_in_ms: "60000" });
    await page.click(`tr[data-id="${gone}"] button.cancel`);
    await page.click(`tr[data-id="${gone}"] button.remove`);
    await page.waitForSelector(`tr[data-id="${gone}"]`, { state: "detached" });
    await page.fill("#f-run_in_ms", "");
    // Exported mid-run: the import must land inside this attempt too.
    await submitTask(page, "report", { max_attempts: "2", key: "" });

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
    exported = `${ARTIFACTS}session.json`;
    await copyFile(await download.path(), exported);
    before = await observable(page);
    assert.equal(before.rows.length, 4);
    assert.equal(before.requests.length, 3, "two attempts and a callback");
  });
  await withPage(DESKTOP, async (page) => {
    assert.equal(await page.isVisible("#empty"), true, "a fresh page starts empty");
    await page.setInputFiles("#import", exported);
    await page.waitForFunction(() => /^Imported /.test(document.getElementById("session-note").textContent));
    assert.deepEqual(await observable(page), before);
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
    await script(page, HOOK, '[{"status": 500, "delay_ms": 200}]');
    const http = await submitTask(page, "http", { callback_url: "https://hooks.example.com/a-rather-long-callback-path/that/must/wrap" });
    await stepUntil(page, ok, "success");
    await stepUntil(page, bad, "failed");
    await stepUntil(page, http, "success");
    await page.click("#request-log summary"); // the newest request, opened
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
    await shot(page, "phone");
    for (const [panel, name] of [["#tasks", "tasks"], ["section:has(#timeline)", "timeline"], ["#destination", "destination"], ["#requests", "requests"]]) {
      await page.locator(panel).screenshot({ path: `${ARTIFACTS}phone-${name}.png` });
    }
  });
});

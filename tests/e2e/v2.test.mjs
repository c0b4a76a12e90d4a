// The v2 features on the virtual clock: HTTP tasks against the scripted
// destination, callbacks, scheduled starts, cancel and delete.
//
// Every scenario fails on any console error or uncaught page error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useBrowser, ARTIFACTS, DESKTOP, HOOK, withPage, shot, fillForm, submitTask, statusOf, cellOf, stepUntil, requestLog } from "./helpers.mjs";

useBrowser();

test("an HTTP task against a scripted destination is retried, then delivers; each attempt is on the timeline", async () => {
  await withPage(DESKTOP, async (page) => {
    await page.fill("#d-answers", '[{"status": 503, "delay_ms": 300, "retry_after": 2}, {"status": 500, "delay_ms": 300}]');
    await page.click("button[data-answer='{\"status\": 200}']"); // a preset, appended
    assert.match(await page.inputValue("#d-answers"), /, \{"status":200\}\]$/);
    await page.click("#script-btn");
    assert.equal(
      await page.textContent("#scripts"),
      `${HOOK}: 503 after 300 ms, Retry-After: 2 → 500 after 300 ms → 200 after 20 ms, then 200`,
    );
    await fillForm(page, "http", { url: HOOK, backoff_ms: "500", callback_url: "https://hooks.example.com/done" });
    assert.equal(await page.isVisible("#f-delay_ms"), false, "http tasks take no simulate");
    const preview = await page.textContent("#schedule-list");
    assert.match(preview, /Attempt 1: 0 s → 0\.30 s, answers 503, fails/);
    assert.match(preview, /wait 2 s \(Retry-After\)/);
    assert.match(preview, /Attempt 3: .*answers 200, succeeds/);

    const id = await submitTask(page, "http", {});
    assert.equal(await statusOf(page, id), "pending");
    await stepUntil(page, id, "success");
    assert.equal(await cellOf(page, id, "attempts"), "3");
    assert.match(await cellOf(page, id, "outcome"), /"message":"Delivered","status_code":200/);
    // Each attempt is a bar, with what the destination answered.
    assert.equal(await page.locator("#timeline rect.fail").count(), 2);
    assert.equal(await page.locator("#timeline rect.ok").count(), 1);
    const titles = await page.$$eval("#timeline rect title", (ts) => ts.map((t) => t.textContent));
    assert.ok(titles.some((t) => t.includes("(HTTP 503)")), titles.join("\n"));
    assert.equal(await page.locator("#timeline line.wait").count(), 2);
    // The callback left when the task ended: its own mark, delivered.
    await page.click("#step");
    assert.equal(await page.locator("#timeline path.cb-ok").count(), 1);
    assert.match(await cellOf(page, id, "status"), /callback delivered/);

    // The requests, as the destination received them.
    await page.click(`tr[data-id="${id}"] button.requests`);
    assert.equal(await page.inputValue("#requests-task"), id);
    const log = await requestLog(page);
    assert.equal(log.length, 4);
    assert.match(log[0], /^POST https:\/\/hooks\.example\.com\/done\n/);
    assert.match(log[0], /\nbgtasks-event: task\.succeeded\n/);
    assert.ok(log[0].includes(`\nwebhook-id: ${id}.0\n`));
    const first = log.at(-1);
    for (const line of ["x-order: 42", "bgtasks-attempt: 1", `webhook-id: ${id}`, "content-type: application/json"]) {
      assert.ok(first.includes(`\n${line}\n`), `${line} in\n${first}`);
    }
    assert.match(first, /\n\n\{"order":42\}\n\n→ 503 after 300 ms, Retry-After: 2 \(scripted\)$/);
    await page.click("#request-log li:last-child summary");
    await shot(page, "desktop-http");
    await page.locator("section:has(#timeline)").screenshot({ path: `${ARTIFACTS}desktop-http-timeline.png` });
  });
});

test("a scheduled task waits, then runs when the clock passes its time", async () => {
  await withPage(DESKTOP, async (page) => {
    await fillForm(page, "report", { delay_ms: "500", run_in_ms: "5000" });
    assert.match(await page.textContent("#schedule-list"), /Scheduled: the first attempt starts after 5 s/);
    const id = await submitTask(page, "report", {});
    assert.equal(await statusOf(page, id), "pending");
    assert.match(await cellOf(page, id, "status"), /scheduled, starts \d\d:\d\d:\d\d\.\d{3}/);
    assert.equal(await cellOf(page, id, "attempts"), "0");
    assert.match(await page.textContent("#next"), /\(in 5 s\)$/);
    assert.equal(await page.locator("#timeline line.scheduled").count(), 1);
    assert.equal(await page.locator("#timeline path.start").count(), 1);
    await shot(page, "desktop-scheduled");

    // The clock runs on, past the scheduled time.
    await page.check("input[name=speed][value='10']");
    await page.click("#play");
    await page.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] [data-col=attempts]`).textContent === "1", id, { timeout: 10000 });
    await page.click("#play");
    assert.ok(parseFloat(await page.textContent("#elapsed")) >= 5, "not before its time");
    await stepUntil(page, id, "success");
    const started = await page.$$eval("#timeline rect.ok title", (ts) => ts.map((t) => t.textContent));
    assert.match(started[0], /: 5 s → 5\.50 s$/);
  });
});

test("cancel and delete from the task table", async () => {
  await withPage(DESKTOP, async (page) => {
    const running = await submitTask(page, "file", { delay_ms: "4000", content: '{"n": 1}' });
    const waiting = await submitTask(page, "notification", { delay_ms: "", run_in_ms: "60000" });
    assert.equal(await page.locator(`tr[data-id="${waiting}"] button.remove`).count(), 0, "a pending task cannot be deleted");

    // From the keyboard: the waiting one.
    await page.focus(`tr[data-id="${waiting}"] button.cancel`);
    await page.keyboard.press("Enter");
    await page.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] .badge`)?.textContent === "failed", waiting);
    assert.equal(await cellOf(page, waiting, "outcome"), "cancelled");
    assert.equal(await page.textContent(`tr[data-id="${waiting}"] .tag.cancelled`), "cancelled");
    assert.equal(await page.evaluate(() => document.activeElement.dataset.action), "retry", "focus stays in the row");

    // The running one: its attempt is let finish.
    await page.click(`tr[data-id="${running}"] button.cancel`);
    await page.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] .badge`)?.textContent === "failed", running);
    assert.equal(await page.locator("#timeline rect.orphan").count(), 1);
    assert.equal(await page.locator("#timeline path.cancel").count(), 2);
    await page.click("#step"); // the orphaned attempt ends: into the history only
    assert.equal(await page.locator("#timeline line.cancelled").count(), 2);
    assert.equal(await statusOf(page, running), "failed");
    assert.equal(await cellOf(page, running, "outcome"), "cancelled");
    assert.equal(await page.locator("#timeline rect.ok.orphaned").count(), 1);
    assert.equal(await page.locator(`#files details[data-path="outputs/${running}.json"]`).count(), 1, "its work was done");
    await shot(page, "desktop-cancelled");

    await page.click(`tr[data-id="${running}"] button.remove`);
    await page.waitForSelector(`tr[data-id="${running}"]`, { state: "detached" });
    assert.equal(await page.locator("#files details").count(), 0, "its file went with it");
    await page.click(`tr[data-id="${waiting}"] button.remove`);
    await page.waitForSelector(`tr[data-id="${waiting}"]`, { state: "detached" });
    assert.equal(await page.isVisible("#empty"), true);
    assert.match(await page.textContent("#timeline"), /appear here/);
  });
});

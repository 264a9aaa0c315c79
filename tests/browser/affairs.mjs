// Browser test of the 村务 pages, driven by crates/cunlink/tests/browser_affairs.rs.
// Env: BASE, VILLAGER and OFFICIAL (session cookies "cunlink_session=…").
// Protocol: prints "SEND urgent" and waits until the Rust side has posted an urgent notice.
import { BASE, env, phone, shots, check, ask, appeared, run, audit } from "./lib.mjs";
import { join } from "node:path";

const cookie = (c) => [{ name: "cunlink_session", value: c.split("=")[1], url: BASE }];

await run(async (browser) => {
  const ctx = await browser.newContext(phone);
  await ctx.addCookies(cookie(env.VILLAGER));
  const page = await ctx.newPage();
  await page.goto(BASE + "/affairs");
  check(await page.locator(".card", { hasText: "紧急停水" }).count() === 0, "no notice before it is posted");

  // 1. Posted while the page is open: it appears without a reload (htmx polls the list).
  await ask("urgent");
  const card = page.locator("#notices .card.urgent", { hasText: "紧急停水" });
  await appeared(card, "an urgent notice appears on the open page live", 15000);
  check(await card.first().getAttribute("data-read") === "false", "it is unread");
  // The tab shows the count on another tab's page too.
  await page.goto(BASE + "/me");
  await appeared(page.locator('.tabbar a[href="/affairs"] .badge', { hasText: "1" }), "the 村务 tab shows 1 unread");
  await page.goto(BASE + "/affairs");
  await page.screenshot({ path: join(shots, "affairs-urgent-360.png"), fullPage: true });
  const href = await card.first().locator("h2 a").getAttribute("href");
  await Promise.all([page.waitForURL(/\/affairs\?ok=/), card.first().locator("form button").click()]);
  check(await page.locator("#notices .card", { hasText: "紧急停水" }).first().getAttribute("data-read") === "true", "marked read on the page");
  check(await page.locator("#unread").count() === 0, "no unread count left");
  await page.waitForTimeout(300);
  check(await page.locator(".tabbar .badge").count() === 0, "and none on the tab");

  // 2. The official sees who has read it.
  const octx = await browser.newContext(phone);
  await octx.addCookies(cookie(env.OFFICIAL));
  const op = await octx.newPage();
  await op.goto(BASE + href);
  check(await op.locator(".card", { hasText: "已经看了的人" }).textContent().then((t) => t.includes("li")), "the read receipts name the villager");
  await octx.close();

  // 3. A ballot through the page.
  await page.goto(BASE + "/affairs/votes");
  await Promise.all([page.waitForURL(/\/affairs\/votes\?ok=/), page.locator("button", { hasText: "东线" }).click()]);
  check(await page.locator(".notice").first().textContent().then((t) => t.includes("投票成功")), "the ballot is counted");
  check(await page.locator("button", { hasText: "东线" }).count() === 0, "no second ballot is offered");

  // 4. Feedback through the page.
  await page.goto(BASE + "/affairs/feedback");
  await page.fill("textarea[name=text]", "村口路灯坏了");
  await Promise.all([page.waitForURL(/\/affairs\/feedback\?ok=/), page.click("form[action='/affairs/feedback'] button[type=submit]")]);
  check(await page.locator(".card", { hasText: "村口路灯坏了" }).count() === 1, "the report is listed with its state");

  // 5. The accounts: totals and a chart.
  await page.goto(BASE + "/affairs/accounts?month=2026-10");
  check(await page.locator("svg.ledger-chart rect").count() >= 2, "the accounts page draws its chart");
  check(await page.locator(".affairs").textContent().then((t) => t.includes("12000.00")), "the month's income is shown in yuan");

  const c = cookie(env.VILLAGER);
  await audit(browser, [
    ["affairs-notices", "/affairs", c],
    ["affairs-accounts", "/affairs/accounts?month=2026-10", c],
    ["affairs-feedback", "/affairs/feedback", c],
    ["affairs-votes", "/affairs/votes", c],
  ]);
  await ctx.close();
});

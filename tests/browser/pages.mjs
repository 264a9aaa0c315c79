// Browser tests against a running cunlink (started by crates/cunlink/tests/browser.rs).
// Usage: node pages.mjs  (env: BASE, BOARD, ASSET_ID, ANIMAL, DEVICE, PROBE_ID, USERNAME, PASSWORD)
// Protocol with the Rust side: this script prints "SEND <what>" and waits for a line
// on stdin once the Rust test has sent a reading over MQTT.
import { BASE, env, phone, shots, check, ask, appeared, run, audit, sessionOf } from "./lib.mjs";
import { join } from "node:path";

await run(async (browser) => {
  // 1. Sign in through the form.
  const ctx = await browser.newContext(phone);
  const page = await ctx.newPage();
  await page.goto(BASE + "/farm/herd");
  check(new URL(page.url()).pathname === "/login", "a page without a session goes to /login");
  await page.fill("input[name=username]", env.USERNAME);
  await page.fill("input[name=password]", "wrong-password");
  await page.click("button[type=submit]");
  check(await page.locator(".error").count() === 1, "a wrong password is refused on the form");
  await page.fill("input[name=password]", env.PASSWORD);
  await Promise.all([page.waitForURL(BASE + "/farm/herd"), page.click("button[type=submit]")]);
  check(true, "sign-in lands on the page asked for");
  await page.goto(BASE + "/");
  check(await page.locator("h1").first().textContent().then((t) => t.includes("概况")), "the overview is the landing page, in Chinese");

  // 2. A reading sent over MQTT appears on the overview without reload.
  await page.waitForFunction(() => true);
  await page.waitForTimeout(500); // the EventSource connects
  const cell = page.locator(`[data-live="${env.PROBE_ID}/temperature"]`).first();
  await ask("overview");
  await cell.filter({ hasText: "23.7" }).waitFor({ timeout: 10000 }).then(() => check(true, "overview shows the MQTT reading live"), () => check(false, "overview shows the MQTT reading live (saw " + "?" + ")"));

  // 3. The board page updates live (no sign-in).
  const bctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const board = await bctx.newPage();
  await board.goto(BASE + env.BOARD);
  await board.waitForTimeout(500);
  await ask("board");
  await board.locator(`[data-live="${env.PROBE_ID}/temperature"]`).filter({ hasText: "24.9" }).first()
    .waitFor({ timeout: 10000 }).then(() => check(true, "board updates live"), () => check(false, "board updates live"));
  await board.screenshot({ path: join(shots, "board-1280.png") });
  // The text feed (page 0, not the rotating one): the board's name, then
  // "asset label … value" lines exactly as wide as the panel (CJK counts two).
  const txt = await (await bctx.request.get(BASE + env.BOARD + ".txt?page=0")).text();
  const lines = txt.split("\n").filter(Boolean);
  const columns = (s) => [...s].reduce((w, c) => w + (/[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]/.test(c) ? 2 : 1), 0);
  check(lines.length <= 4, "board text feed respects its line count");
  check(lines[0] === "大棚看板", "board text feed starts with the board's name (saw " + JSON.stringify(lines[0]) + ")");
  const values = lines.slice(1).filter((l) => l.startsWith("一号大棚 "));
  check(values.length >= 2 && values.every((l) => columns(l) === 24) && lines.every((l) => columns(l) <= 24), "board text value lines are exactly 24 columns, none wider:\n" + txt);
  check(values.some((l) => l.includes("温度") && l.endsWith("24.9°C")), "board text feed shows the live temperature right-aligned:\n" + txt);
  check(values.some((l) => l.includes("空气湿度") && l.endsWith("66%")), "board text feed shows the humidity:\n" + txt);
  await bctx.close();

  // 4. Language switch, remembered for the user.
  await page.goto(BASE + "/me");
  await Promise.all([page.waitForURL(BASE + "/me"), page.click("button[value=en]")]);
  check(await page.evaluate(() => document.documentElement.lang) === "en", "language switch to English");
  check(await page.locator("header").textContent().then((t) => t.includes("Sign out")), "navigation is in English");
  const ctx2 = await browser.newContext(phone);
  await ctx2.addCookies((await ctx.cookies()).filter((c) => c.name === "cunlink_session"));
  const p2 = await ctx2.newPage();
  await p2.goto(BASE + "/");
  check(await p2.evaluate(() => document.documentElement.lang) === "en", "the language is remembered per user (new browser)");
  await ctx2.close();
  await page.goto(BASE + "/me");
  await Promise.all([page.waitForURL(BASE + "/me"), page.click("button[value=zh-CN]")]);
  check(await page.evaluate(() => document.documentElement.lang) === "zh-CN", "language switch back to Chinese");

  // 5. Every page: first-load weight, 360 px usability, screenshots at 360 and 1280.
  const session = (await ctx.cookies()).filter((c) => c.name === "cunlink_session");
  const pages = [
    ["login", "/login", false],
    ["overview", "/", true],
    ["asset", "/farm/assets/" + env.ASSET_ID, true],
    ["herd", "/farm/herd", true],
    ["animal", "/farm/herd/" + encodeURIComponent(env.ANIMAL), true],
    ["devices", "/farm/devices", true],
    ["device", "/farm/devices/" + encodeURIComponent(env.DEVICE), true],
    ["profiles", "/farm/profiles", true],
    ["me", "/me", true],
    ["admin", "/admin/users", true],
    ["board", env.BOARD, false],
  ];
  await audit(browser, pages.map(([name, path, signed]) => [name, path, signed ? session : null]));
  await ctx.close();
});

// Browser tests against a running cunlink (started by crates/cunlink/tests/browser.rs).
// Usage: node pages.mjs  (env: BASE, BOARD, ASSET_ID, ANIMAL, DEVICE, PROBE_ID, USERNAME, PASSWORD)
// Protocol with the Rust side: this script prints "SEND <what>" and waits for a line
// on stdin once the Rust test has sent a reading over MQTT.
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const env = process.env;
const BASE = env.BASE;
const BUDGET = 60 * 1024;
const here = dirname(fileURLToPath(import.meta.url));
const shots = join(here, "screenshots");
mkdirSync(shots, { recursive: true });
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();
let failures = 0, passes = 0;

function check(ok, what) {
  if (ok) { passes++; console.log("ok   " + what); } else { failures++; console.log("FAIL " + what); }
}
async function ask(what) {
  console.log("SEND " + what);
  const l = await lines.next();
  if (l.done) throw new Error("the Rust side went away");
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
// Playwright gives every context a fresh profile of its own (its --user-data-dir).
const phone = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 1, locale: "zh-CN" };

try {
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
  const txt = await (await bctx.request.get(BASE + env.BOARD + ".txt")).text();
  check(txt.split("\n").filter(Boolean).length <= 4, "board text feed respects its line count");
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
    ["me", "/me", true],
    ["admin", "/admin/users", true],
    ["board", env.BOARD, false],
  ];
  for (const [name, path, signed] of pages) {
    for (const width of [360, 1280]) {
      const c = await browser.newContext({ viewport: { width, height: 800 }, deviceScaleFactor: 1 });
      if (signed) await c.addCookies(session);
      const p = await c.newPage();
      const cdp = await c.newCDPSession(p);
      await cdp.send("Network.enable");
      let bytes = 0;
      cdp.on("Network.loadingFinished", (e) => { bytes += e.encodedDataLength; });
      await p.goto(BASE + path, { waitUntil: "load" });
      await p.waitForTimeout(400);
      await p.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
      if (width === 360) {
        check(bytes <= BUDGET, `${name}: first load ${(bytes / 1024).toFixed(1)} KB <= 60 KB`);
        const r = await p.evaluate(() => {
          const vis = (e) => { const b = e.getBoundingClientRect(); return b.width > 0 && b.height > 0 && getComputedStyle(e).visibility !== "hidden"; };
          const small = [...document.querySelectorAll("a,button,input,select,summary")].filter(vis)
            .filter((e) => { const b = e.getBoundingClientRect(); return b.height < 44 || b.width < 44; })
            .map((e) => e.tagName + ":" + (e.textContent || e.name || "").trim().slice(0, 20) + " " + Math.round(e.getBoundingClientRect().width) + "x" + Math.round(e.getBoundingClientRect().height));
          const tiny = [...document.querySelectorAll("p,td,th,dd,dt,li,label,small,span,a,button,input,select")].filter(vis)
            .filter((e) => e.textContent.trim() && parseFloat(getComputedStyle(e).fontSize) < 16)
            .map((e) => e.tagName + ":" + e.textContent.trim().slice(0, 20));
          return { overflow: document.documentElement.scrollWidth - window.innerWidth, small, tiny };
        });
        check(r.overflow <= 0, `${name}: no horizontal scroll at 360 px (${r.overflow})`);
        check(r.small.length === 0, `${name}: tap targets >= 44 px ${r.small.slice(0, 5).join(", ")}`);
        check(r.tiny.length === 0, `${name}: text >= 16 px ${r.tiny.slice(0, 5).join(", ")}`);
      }
      await c.close();
    }
  }
  await ctx.close();
} catch (e) {
  failures++;
  console.log("FAIL " + (e && e.stack || e));
} finally {
  await browser.close();
}
console.log(`${passes} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);

// Browser tests of the alert pages against a running cunlink (started by
// crates/cunlink/tests/browser_alerts.rs). Env: BASE, BOARD, USERNAME, PASSWORD.
// Protocol: this script prints "SEND fever|hot" and waits for a line on stdin
// once the Rust side has sent the reading over MQTT.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const env = process.env;
const BASE = env.BASE;
const BUDGET = 60 * 1024;
const shots = join(dirname(fileURLToPath(import.meta.url)), "screenshots");
mkdirSync(shots, { recursive: true });
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
let failures = 0, passes = 0;

function check(ok, what) {
  if (ok) { passes++; console.log("ok   " + what); } else { failures++; console.log("FAIL " + what); }
}
async function ask(what) {
  console.log("SEND " + what);
  if ((await lines.next()).done) throw new Error("the Rust side went away");
}
const appeared = (loc, what, timeout = 10000) =>
  loc.first().waitFor({ timeout }).then(() => check(true, what), () => check(false, what));

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
const phone = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 1, locale: "zh-CN" };

try {
  const ctx = await browser.newContext(phone);
  const page = await ctx.newPage();
  await page.goto(BASE + "/alarms");
  await page.fill("input[name=username]", env.USERNAME);
  await page.fill("input[name=password]", env.PASSWORD);
  await Promise.all([page.waitForURL(BASE + "/alarms"), page.click("button[type=submit]")]);
  check(await page.locator("li.alarm").count() === 0, "the inbox starts without open alarms");

  // 1. A fever alarm arrives live, is acknowledged on the page and leaves the open list.
  await page.waitForTimeout(500); // the EventSource connects
  await ask("fever");
  const fever = page.locator("li.alarm", { hasText: "耳标 0601" });
  await appeared(fever, "a fever alarm appears on the inbox without reload");
  check(await fever.first().textContent().then((t) => t.includes("耳标高温") && t.includes("40.2") && t.includes("严重")),
    "the alarm row names the rule, the value and the severity");
  await fever.first().locator("button[data-act=ack]").click();
  await fever.first().waitFor({ state: "detached", timeout: 10000 })
    .then(() => check(true, "an acknowledged alarm leaves the open list"), () => check(false, "an acknowledged alarm leaves the open list"));
  await page.goto(BASE + "/alarms?status=acknowledged");
  check(await page.locator("li.alarm", { hasText: "耳标 0601" }).count() === 1, "it is listed under acknowledged");
  await page.locator("li.alarm a", { hasText: "耳标高温" }).first().click();
  await page.fill("textarea[name=text]", "已隔离，兽医下午来");
  await Promise.all([page.waitForURL(/\/alarms\/\d+/), page.click("form[action$='/comment'] button")]);
  check(await page.locator(".history").textContent().then((t) => t.includes("已隔离") && t.includes("已确认")), "a comment and the acknowledgement are in the history");
  const alarmPath = new URL(page.url()).pathname;

  // 2. A rule made through its form; an unknown key is refused next to its field.
  await page.goto(BASE + "/rules/new");
  await page.fill("input[name=name]", "大棚太热");
  await page.selectOption("select[name=target_asset]", "一号大棚");
  await page.fill("[data-cmp] input[name=key]", "nonsense");
  await page.selectOption("[data-cmp] select[name=op]", ">");
  await page.fill("[data-cmp] input[name=value]", "33");
  await page.fill("input[name=for_min]", "0");
  await page.click("form[data-rule] button[type=submit]");
  await appeared(page.locator('[data-field="condition.conditions[0].key"] .field-error'), "an unknown key is shown next to its field");
  await page.click("[data-add-cmp]");
  await page.fill("[data-cmp] >> nth=0 >> input[name=key]", "temperature");
  await page.fill("[data-cmp] >> nth=1 >> input[name=key]", "humidity");
  await page.selectOption("[data-cmp] >> nth=1 >> select[name=op]", "<");
  await page.fill("[data-cmp] >> nth=1 >> input[name=value]", "50");
  await page.screenshot({ path: join(shots, "rule-form-filled-360.png"), fullPage: true });
  await Promise.all([page.waitForURL(/\/rules\?saved=/), page.click("form[data-rule] button[type=submit]")]);
  check(await page.locator("li.alarm", { hasText: "大棚太热" }).count() === 1, "the rule made on the form is listed");
  // It fires.
  await page.goto(BASE + "/alarms");
  await page.waitForTimeout(500);
  await ask("hot");
  await appeared(page.locator("li.alarm", { hasText: "大棚太热" }), "the rule made on the form fires and its alarm arrives live");
  // The built-in herd-fever rule is editable, not deletable.
  await page.goto(BASE + "/rules");
  await page.locator("li.alarm a", { hasText: "sow fever" }).click();
  check(await page.locator("select[name=cond]").inputValue() === "herd_fever", "the built-in rule opens as a herd-fever form");
  check(await page.locator("form[action$='/delete']").count() === 0, "the built-in rule has no delete button");

  // 3. The overview and the board show the open alarm.
  await page.goto(BASE + "/");
  check(await page.locator(".open-alarms li.alarm", { hasText: "大棚太热" }).count() === 1, "the overview shows the open alarm on top");
  const bctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const board = await bctx.newPage();
  await board.goto(BASE + env.BOARD);
  check(await board.locator(".extra").textContent().then((t) => t.includes("大棚太热")).catch(() => false), "the board shows the open alarm");
  await board.screenshot({ path: join(shots, "board-alarm-1280.png") });
  const txt = await (await bctx.request.get(BASE + env.BOARD + ".txt?page=0")).text();
  check(txt.includes("大棚太热") || (await (await bctx.request.get(BASE + env.BOARD + ".txt?page=1")).text()).includes("大棚太热"), "the board's text feed has the alarm");
  await bctx.close();

  // 4. Weight, 360 px usability and screenshots of the alert pages.
  const session = (await ctx.cookies()).filter((c) => c.name === "cunlink_session");
  const pages = [["alarms", "/alarms?status=all"], ["alarm", alarmPath], ["rules", "/rules"], ["rules-new", "/rules/new"], ["me", "/me"], ["overview-alarms", "/"]];
  for (const [name, path] of pages) {
    for (const width of [360, 1280]) {
      const c = await browser.newContext({ viewport: { width, height: 800 }, deviceScaleFactor: 1 });
      await c.addCookies(session);
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
          const small = [...document.querySelectorAll("a,button,input,select,summary,textarea")].filter(vis)
            .filter((e) => { const b = e.getBoundingClientRect(); return b.height < 44 || b.width < 44; })
            .map((e) => e.tagName + ":" + (e.textContent || e.name || "").trim().slice(0, 20) + " " + Math.round(e.getBoundingClientRect().width) + "x" + Math.round(e.getBoundingClientRect().height));
          const tiny = [...document.querySelectorAll("p,td,th,dd,dt,li,label,small,span,a,button,input,select,legend,time")].filter(vis)
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
  // The English pages have their strings too.
  const en = await browser.newContext(phone);
  await en.addCookies(session);
  const pe = await en.newPage();
  await pe.goto(BASE + "/me");
  await Promise.all([pe.waitForURL(BASE + "/me"), pe.click("button[value=en]")]);
  await pe.goto(BASE + "/alarms");
  check(await pe.locator("h1").textContent() === "Alarms", "the inbox switches to English");
  check(!(await pe.evaluate(() => document.body.innerText)).match(/alert\.[a-z]/), "no locale key shows through on the English inbox");
  await pe.goto(BASE + "/me");
  await pe.screenshot({ path: join(shots, "me-en-360.png"), fullPage: true });
  await Promise.all([pe.waitForURL(BASE + "/me"), pe.click("button[value=zh-CN]")]);
  await en.close();
  await ctx.close();
} catch (e) {
  failures++;
  console.log("FAIL " + (e && e.stack || e));
} finally {
  await browser.close();
}
console.log(`${passes} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);

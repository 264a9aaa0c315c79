// Browser tests of the alert pages against a running cunlink (started by
// crates/cunlink/tests/browser_alerts.rs). Env: BASE, BOARD, USERNAME, PASSWORD.
// Protocol: this script prints "SEND fever|hot" and waits for a line on stdin
// once the Rust side has sent the reading over MQTT.
import { BASE, env, phone, shots, check, ask, appeared, run, audit, sessionOf } from "./lib.mjs";
import { join } from "node:path";

await run(async (browser) => {
  // Notifications allowed, as the user does once on the 我的 page.
  const ctx = await browser.newContext({ ...phone, permissions: ["notifications"] });
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
  // The same alarm as a system notification, over the server's own stream:
  // this browser has no push subscription (a phone on the village Wi-Fi).
  const shown = await page.evaluate(async () => {
    const r = await navigator.serviceWorker.ready;
    for (let i = 0; i < 100; i++) {
      const n = (await r.getNotifications()).find((x) => x.title.includes("耳标高温"));
      if (n) return n.title + " | " + n.body + " | " + n.tag;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    return "";
  });
  check(shown.includes("耳标 0601") && shown.includes("alarm-"), "the alarm is shown as a system notification without a push service: " + shown);
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
  await audit(browser, pages.map(([name, path]) => [name, path, session]));
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
});

// The market's path in a real browser, driven by crates/cunlink/tests/browser.rs
// (market_path_in_a_real_browser). Every step goes through the pages' forms.
import { BASE, env, phone, shots, check, run, audit, sessionOf } from "./lib.mjs";
import { join } from "node:path";

await run(async (browser) => {
  async function signIn(name) {
    const ctx = await browser.newContext(phone);
    const page = await ctx.newPage();
    await page.goto(BASE + "/login");
    await page.fill("input[name=username]", name);
    await page.fill("input[name=password]", env.PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    return { ctx, page };
  }
  const text = (p, sel) => p.locator(sel).first().textContent().then((t) => t || "");

  let traceUrl = null;
  const sessions = {};

  // 1. The farmer lists tea through the form (price in yuan), then links a harvest batch to the garden.
  const farmer = await signIn("farmer");
  sessions.farmer = farmer.ctx;
  await farmer.page.goto(BASE + "/market/mine");
  await farmer.page.fill("#pn", "龙井茶");
  await farmer.page.fill("#pu", "500g");
  await farmer.page.fill("#pp", "128.5");
  await farmer.page.fill("#ps", "50");
  await Promise.all([farmer.page.waitForNavigation(), farmer.page.click("form[action='/market/mine'] button[type=submit]")]);
  check((await text(farmer.page, ".notice")).includes("龙井茶"), "farmer lists tea through the form");
  check((await farmer.page.locator(".product").first().textContent()).includes("¥128.50"), "the price typed in yuan is shown as 128.50 (12850 fen)");
  const csrf = await farmer.page.locator("input[name=csrf]").first().inputValue();
  const products = await (await farmer.ctx.request.get(BASE + "/api/market/products")).json();
  const tea = products.find((p) => p.name === "龙井茶");
  check(tea && tea.price_fen === 12850 && tea.stock === 50, "the API sees price_fen 12850 and stock 50");
  const day = 86400000, now = Date.now();
  const batch = await farmer.ctx.request.post(BASE + "/api/market/batches", {
    headers: { "x-csrf-token": csrf, "content-type": "application/json" },
    data: { asset: env.GARDEN, grown_from: now - 14 * day, harvested_at: now, product_id: tea.id },
  });
  check(batch.status() === 201, "the farmer links a harvest batch to the tea garden");

  // 2. The buyer finds it by pinyin initials and orders 2 for pickup at the village station.
  const buyer = await signIn("buyer");
  sessions.buyer = buyer.ctx;
  await buyer.page.goto(BASE + "/market?q=ljc");
  check((await buyer.page.locator(".product h2").allTextContents()).some((t) => t.includes("龙井茶")), "pinyin initials 'ljc' find 龙井茶");
  await buyer.page.fill(`input[name=qty_${tea.id}]`, "2");
  await Promise.all([buyer.page.waitForNavigation(), buyer.page.click(`button[name=product_id][value="${tea.id}"]`)]);
  check(new URL(buyer.page.url()).pathname === "/market/orders", "ordering lands on my orders");
  const orderText = await text(buyer.page, ".order");
  check(orderText.includes("龙井茶 × 2") && orderText.includes("257.00"), "my orders shows the tea × 2 for ¥257.00");
  const after = await (await buyer.ctx.request.get(BASE + `/api/market/products/${tea.id}`)).json();
  check(after.stock === 48, "stock went from 50 to 48");

  // 3. The operator packs, ships, scans arrival; the buyer sees the pickup code; the operator hands over with it.
  const op = await signIn("operator");
  sessions.operator = op.ctx;
  await op.page.goto(BASE + "/market/station");
  const click = async (sel) => Promise.all([op.page.waitForNavigation(), op.page.click(sel)]);
  await click("#to-pack button, [id^=pack-] button[value=packed]");
  check((await text(op.page, ".notice")).includes("已打包"), "operator marks the order packed");
  await click("[id^=pack-] button[value=shipped]");
  check((await op.page.locator("[id^=parcel-]").count()) === 1, "shipping creates a parcel to the pickup station");
  await click("[id^=parcel-] button[value=at_village_station]");
  check((await text(op.page, ".notice")).includes("已到村服务站"), "operator scans the parcel's arrival");
  await buyer.page.goto(BASE + "/market/orders");
  const code = (await text(buyer.page, ".pickup .code")).trim();
  check(/^\d{1,2}-\d-\d+$/.test(code), `the buyer sees the pickup code (${code})`);
  await buyer.page.screenshot({ path: join(shots, "market-orders-code-360.png"), fullPage: true });
  await op.page.fill("[id^=parcel-] input[name=code]", "1-1-1");
  await click("[id^=parcel-] form[action$=collect] button");
  check((await op.page.locator(".error").count()) === 1, "a wrong pickup code is refused");
  await op.page.fill("[id^=parcel-] input[name=code]", code);
  await click("[id^=parcel-] form[action$=collect] button");
  check((await text(op.page, ".notice")).includes("已取件"), "the operator hands over with the right code");
  await click("[id^=pay-] button[value=cash]");
  check((await text(op.page, ".notice")).includes("已记收款"), "the operator records cash taken at the counter");
  await op.page.fill("#fn", "王奶奶");
  await op.page.fill("#aq", "1");
  await click("form[action='/market/order'] button[type=submit]");
  check((await text(op.page, ".notice")).includes("下单成功"), "the operator orders for a villager without a phone");
  await buyer.page.goto(BASE + "/market/orders");
  check((await text(buyer.page, ".order .tag")).includes("已取件"), "the buyer's order shows collected");

  // 4. The trace page from the order shows the garden's real readings.
  traceUrl = await buyer.page.locator(".order a[href^='/t/']").first().getAttribute("href");
  await buyer.page.goto(BASE + traceUrl);
  const trace = await buyer.page.locator("main").textContent();
  check(trace.includes("龙井茶园") && trace.includes("11.5") && trace.includes("18.5") && trace.includes("茶香村"), "the trace page shows the tea garden's real readings (11.5 to 18.5 °C)");

  // 5. Price board: search and trend; the display board shows today's prices.
  await buyer.page.goto(BASE + "/prices?q=pg");
  check((await buyer.page.locator(".prices li").allTextContents()).some((t) => t.includes("苹果") && t.includes("8.50")), "/prices finds 苹果 by 'pg'");
  const bctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale: "zh-CN" });
  const board = await bctx.newPage();
  await board.goto(BASE + env.BOARD);
  check((await board.locator("body").textContent()).includes("苹果 8.50元/kg"), "the display board shows today's prices");
  await board.screenshot({ path: join(shots, "board-prices-1280.png") });
  await bctx.close();

  // 6. Page weight, 360 px usability and screenshots of the market pages.
  const pages = [
    ["market-shop", "/market", "buyer"], ["market-orders", "/market/orders", "buyer"],
    ["market-mine", "/market/mine", "farmer"], ["market-station", "/market/station", "operator"],
    ["prices", "/prices?c=%E8%8B%B9%E6%9E%9C&days=7", null], ["trace", traceUrl, null],
  ];
  const cookies = {};
  for (const who of Object.keys(sessions)) cookies[who] = await sessionOf(sessions[who]);
  await audit(browser, pages.map(([name, path, who]) => [name, path, who ? cookies[who] : null]));
});

// The app shell for each role, driven by crates/cunlink/tests/browser_shell.rs.
// SESSIONS: "role=session-token" lines. Screenshots: screenshots/shell-<role>-<tab>-<width>.png
// (full page) and shell-<role>-<tab>-360-end.png (the phone's screen scrolled to the end).
import { BASE, env, shots, check, run, audit } from "./lib.mjs";
import { join } from "node:path";

/// The tabs (home paths, in order) and, per tab, the sub-pages each role sees.
/// The clinic has no sub-navigation (its home page links its parts by role).
const FARM = ["/", "/alarms", "/farm/herd", "/farm/devices", "/rules"];
const SHOP = ["/market", "/prices"];
const SCHOOL = ["/school", "/school/courses", "/school/timetable", "/school/pulls"];
const AFFAIRS = ["/affairs", "/affairs/accounts", "/affairs/feedback", "/affairs/votes"];
const expected = {
  admin: { "/": FARM, "/market": ["/market", "/market/mine", "/market/station", "/prices"], "/clinic": [], "/school": SCHOOL, "/affairs": AFFAIRS, "/me": ["/me", "/admin/users"] },
  county_staff: { "/": FARM, "/market": SHOP, "/clinic": [], "/school": SCHOOL, "/affairs": AFFAIRS, "/me": ["/me", "/admin/users"] },
  farmer: { "/": FARM, "/market": ["/market", "/market/mine", "/prices"], "/affairs": AFFAIRS, "/me": [] },
  station_operator: { "/": FARM, "/market": ["/market", "/market/station", "/prices"], "/affairs": AFFAIRS, "/me": [] },
  buyer: { "/market": SHOP, "/me": [] },
  doctor: { "/": FARM, "/market": SHOP, "/clinic": [], "/affairs": AFFAIRS, "/me": [] },
  teacher: { "/": FARM, "/market": SHOP, "/school": SCHOOL, "/affairs": AFFAIRS, "/me": [] },
  villager: { "/": FARM, "/market": SHOP, "/clinic": [], "/school": SCHOOL, "/affairs": AFFAIRS, "/me": [] },
  village_official: { "/": FARM, "/market": SHOP, "/affairs": AFFAIRS, "/me": [] },
};
const tabName = (home) => home === "/" ? "farm" : home.slice(1).replace(/\//g, "-");
const hrefs = (p, sel) => p.locator(sel).evaluateAll((as) => as.map((a) => a.getAttribute("href")));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

await run(async (browser) => {
  const sessions = env.SESSIONS.split("\n").map((l) => l.split("="));
  check(same(sessions.map((s) => s[0]).sort(), Object.keys(expected).sort()), "a session for every role");
  for (const [role, token] of sessions) {
    const cookies = [{ name: "cunlink_session", value: token, url: BASE }];
    const tabs = expected[role];
    const homes = Object.keys(tabs);
    for (const width of [360, 1280]) {
      const ctx = await browser.newContext({ viewport: { width, height: 740 }, deviceScaleFactor: 1, locale: "zh-CN" });
      await ctx.addCookies(cookies);
      const p = await ctx.newPage();
      await p.goto(BASE + homes[homes.length - 1]);
      for (const home of homes) {
        const what = `${role} ${width}px ${tabName(home)}`;
        // Through the tab bar, as a person would.
        await Promise.all([p.waitForURL(BASE + home), p.click(`.tabbar a[href="${home}"]`)]);
        check(same(await hrefs(p, ".tabbar a"), homes), `${what}: exactly the tabs ${homes.join(" ")}`);
        check(same(await hrefs(p, ".tabbar a[aria-current]"), [home]), `${what}: its tab is current`);
        check(same(await hrefs(p, ".subnav a"), tabs[home]), `${what}: sub-pages ${tabs[home].join(" ") || "(none)"}`);
        if (tabs[home].length) {
          check(same(await hrefs(p, ".subnav a[aria-current=page]"), [home]), `${what}: the home is the current sub-page`);
        }
        const bar = await p.locator(".tabbar").boundingBox();
        if (width === 360) {
          check(Math.abs(bar.y + bar.height - 740) < 1 && bar.width === 360, `${what}: tab bar along the bottom`);
          // Scrolled to the end, the page's last line is above the bar.
          await p.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
          const last = await p.evaluate(() => Math.max(...[...document.querySelectorAll("main *")].map((e) => e.getBoundingClientRect().bottom)));
          const top = await p.evaluate(() => document.querySelector(".tabbar").getBoundingClientRect().top);
          check(last <= top, `${what}: the bar covers nothing (${Math.round(last)} <= ${Math.round(top)})`);
          // What a phone shows at the end of the page (full-page shots draw the fixed bar mid-page).
          await p.screenshot({ path: join(shots, `shell-${role}-${tabName(home)}-360-end.png`) });
        } else {
          const ys = await p.locator(".tabbar a").evaluateAll((as) => as.map((a) => a.getBoundingClientRect().y));
          check(bar.x === 0 && bar.width <= 220 && ys.every((y, i) => i === 0 || y > ys[i - 1]), `${what}: tab bar at the side, tabs one below the other`);
        }
      }
      // A sub-page marks its own entry and keeps its tab current.
      const firstTab = homes[0];
      const sub = tabs[firstTab][1];
      if (sub) {
        await Promise.all([p.waitForURL(BASE + firstTab), p.click(`.tabbar a[href="${firstTab}"]`)]);
        await Promise.all([p.waitForURL(BASE + sub), p.click(`.subnav a[href="${sub}"]`)]);
        check(same(await hrefs(p, ".subnav a[aria-current=page]"), [sub]), `${role} ${width}px: ${sub} is the current sub-page`);
        check(same(await p.locator(".tabbar a[aria-current]").evaluateAll((as) => as.map((a) => [a.getAttribute("href"), a.getAttribute("aria-current")])), [[firstTab, "true"]]),
          `${role} ${width}px: on ${sub} the ${tabName(firstTab)} tab stays current`);
      }
      await ctx.close();
    }
    // Budgets and screenshots of each tab's home (shell-<role>-<tab>-<width>.png).
    await audit(browser, homes.map((h) => [`shell-${role}-${tabName(h)}`, h, cookies]));
  }
});

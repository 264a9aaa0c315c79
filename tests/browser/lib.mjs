// What every browser test script shares: the Chromium launch, pass/fail
// counting, the stdin protocol with the Rust side, and the page audit
// (first-load weight, 360 px usability, WCAG AA contrast, screenshots).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

export const env = process.env;
export const BASE = env.BASE;
/// First load of any page, compressed, CSS and JS included (issue budget).
export const BUDGET = 60 * 1024;
export const shots = join(dirname(fileURLToPath(import.meta.url)), "screenshots");
mkdirSync(shots, { recursive: true });
export const phone = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 1, locale: "zh-CN" };

let failures = 0, passes = 0;

export function check(ok, what) {
  if (ok) { passes++; console.log("ok   " + what); } else { failures++; console.log("FAIL " + what); }
}

let lines = null;
/// Ask the Rust side to do something (send a reading over MQTT) and wait until it has.
export async function ask(what) {
  lines ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  console.log("SEND " + what);
  if ((await lines.next()).done) throw new Error("the Rust side went away");
}

export const appeared = (loc, what, timeout = 10000) =>
  loc.first().waitFor({ timeout }).then(() => check(true, what), () => check(false, what));

/// `extra`: more Chromium flags (the call test's fake camera and microphone).
export function launch(extra = []) {
  return chromium.launch({
    executablePath: env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", ...extra],
  });
}

/// Run `body(browser)`, count an exception as a failure, print the tally, exit.
export async function run(body, extra = []) {
  const browser = await launch(extra);
  try {
    await body(browser);
  } catch (e) {
    failures++;
    console.log("FAIL " + (e && e.stack || e));
  } finally {
    await browser.close();
  }
  console.log(`${passes} passed, ${failures} failed`);
  process.exit(failures ? 1 : 0);
}

/// Measured in the page: horizontal overflow, small tap targets, small text and
/// text below WCAG AA contrast (4.5:1, 3:1 for large text) against the nearest
/// opaque background.
function measure() {
  const vis = (e) => { const b = e.getBoundingClientRect(); return b.width > 0 && b.height > 0 && getComputedStyle(e).visibility !== "hidden"; };
  const label = (e) => e.tagName + ":" + (e.textContent || e.name || "").trim().slice(0, 20);
  const small = [...document.querySelectorAll("a,button,input,select,summary,textarea")].filter(vis)
    .filter((e) => { const b = e.getBoundingClientRect(); return b.height < 44 || b.width < 44; })
    .map((e) => label(e) + " " + Math.round(e.getBoundingClientRect().width) + "x" + Math.round(e.getBoundingClientRect().height));
  const texts = [...document.querySelectorAll("p,td,th,dd,dt,li,label,small,span,a,button,input,select,legend,time,b,strong,h1,h2,h3,div")]
    .filter(vis).filter((e) => [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()));
  const tiny = texts.filter((e) => parseFloat(getComputedStyle(e).fontSize) < 16).map(label);
  const rgb = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (e) => {
    for (let n = e; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c && c.a >= 0.5) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const lowContrast = texts.filter((e) => !e.disabled).filter((e) => {
    const s = getComputedStyle(e);
    const fg = rgb(s.color);
    if (!fg) return false;
    const [a, b] = [lum(fg), lum(background(e))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (parseInt(s.fontWeight, 10) >= 700 && size >= 18.66);
    return ratio < (large ? 3 : 4.5);
  }).map((e) => label(e) + " " + getComputedStyle(e).color);
  return { overflow: document.documentElement.scrollWidth - window.innerWidth, small, tiny, lowContrast };
}

/// Load each `[name, path, cookies]` fresh at 360 and 1280 px: screenshots of
/// both, and at 360 px the weight budget, usability and contrast checks.
export async function audit(browser, pages) {
  for (const [name, path, cookies] of pages) {
    for (const width of [360, 1280]) {
      const c = await browser.newContext({ viewport: { width, height: 800 }, deviceScaleFactor: 1, locale: "zh-CN" });
      if (cookies) await c.addCookies(cookies);
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
        const r = await p.evaluate(measure);
        check(r.overflow <= 0, `${name}: no horizontal scroll at 360 px (${r.overflow})`);
        check(r.small.length === 0, `${name}: tap targets >= 44 px ${r.small.slice(0, 5).join(", ")}`);
        check(r.tiny.length === 0, `${name}: text >= 16 px ${r.tiny.slice(0, 5).join(", ")}`);
        check(r.lowContrast.length === 0, `${name}: WCAG AA contrast ${r.lowContrast.slice(0, 5).join(", ")}`);
      }
      await c.close();
    }
  }
}

/// The session cookie of a signed-in context, for `audit`.
export async function sessionOf(ctx) {
  return (await ctx.cookies()).filter((c) => c.name === "cunlink_session");
}

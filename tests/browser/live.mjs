// The school's live class through cunlink's SFU, in real Chromium contexts with
// a fake camera and microphone (started by crates/cunlink/tests/browser_live.rs).
// Env: BASE, CLASS (the city class), RURAL (comma-separated rural class ids, one
// per classroom page), COOKIE_T (the teacher), COOKIE_R (comma-separated, one per
// classroom), COOKIE_X (a teacher of another school). HOLD=S: after the checks,
// keep everything running and print `SEND measure` (the Rust side measures the
// SFU for S seconds; bench/sfu.sh).
import { BASE, env, check, run, ask } from "./lib.mjs";

const FAKE = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
  "--autoplay-policy=no-user-gesture-required"];
const connected = '#call[data-state="connected"]';
const page = (id) => `${BASE}/school/classes/${id}/live`;
const rural = env.RURAL.split(","), cookies = env.COOKIE_R.split(",");

async function context(browser, cookie) {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: "zh-CN" });
  const at = cookie.indexOf("=");
  await ctx.addCookies([{ name: cookie.slice(0, at), value: cookie.slice(at + 1), url: BASE }]);
  await ctx.grantPermissions(["camera", "microphone"], { origin: BASE });
  return ctx;
}

const stats = (p) => p.evaluate(async () => {
  const s = await window.cunlinkLive.pc.getStats();
  const o = { frames: 0, width: 0, audioIn: 0, layers: [] };
  s.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") { o.frames += r.framesDecoded || 0; o.width = Math.max(o.width, r.frameWidth || 0); }
    if (r.type === "inbound-rtp" && r.kind === "audio") o.audioIn += r.bytesReceived || 0;
    if (r.type === "outbound-rtp" && r.kind === "video") o.layers.push(`${r.rid}:${r.frameWidth || 0}x${r.frameHeight || 0}`);
  });
  return o;
});

/// Poll `f` until `ok(value)` or `ms` pass; answers the last value.
async function until(f, ok, ms) {
  const end = Date.now() + ms;
  let v = await f();
  while (!ok(v) && Date.now() < end) { await new Promise((r) => setTimeout(r, 500)); v = await f(); }
  return v;
}

await run(async (browser) => {
  const teacher = await (await context(browser, env.COOKIE_T)).newPage();
  await teacher.goto(page(env.CLASS));
  await teacher.waitForSelector(connected, { timeout: 60000 });
  check(true, "the teacher's page connects to the SFU");

  const rooms = [];
  for (let i = 0; i < rural.length; i++) {
    const p = await (await context(browser, cookies[i])).newPage();
    await p.goto(page(rural[i]));
    rooms.push(p);
  }
  for (let i = 0; i < rooms.length; i++) {
    await rooms[i].waitForSelector(connected, { timeout: 60000 });
    check(true, `classroom ${i + 1}'s page connects`);
  }
  // Each classroom decodes the teacher's video, and keeps decoding.
  for (let i = 0; i < rooms.length; i++) {
    const a = await until(() => stats(rooms[i]), (v) => v.frames > 0, 30000);
    const b = await until(() => stats(rooms[i]), (v) => v.frames > a.frames + 10, 20000);
    check(a.frames > 0 && b.frames > a.frames + 10,
      `classroom ${i + 1} decodes the teacher's video (framesDecoded ${a.frames} → ${b.frames}, ${b.width} px wide)`);
  }
  // The classrooms' voices reach the teacher.
  const a = await stats(teacher);
  const b = await until(() => stats(teacher), (v) => v.audioIn > a.audioIn + 2000, 20000);
  check(b.audioIn > a.audioIn + 2000, `the classrooms' audio reaches the teacher (inbound audio bytes ${a.audioIn} → ${b.audioIn})`);
  console.log("info teacher sends layers " + b.layers.join(" "));

  // A teacher of another school cannot join: the page refuses, and so does the API.
  const outsider = await (await context(browser, env.COOKIE_X)).newPage();
  const resp = await outsider.goto(page(env.CLASS));
  check(resp.status() === 403, `another school's teacher gets 403 for the live page (${resp.status()})`);
  check(!(await outsider.locator("#call").count()), "and no live-class player");

  if (env.HOLD) {
    for (let i = 0; i < rooms.length; i++) {
      const s = await stats(rooms[i]);
      console.log(`BENCH classroom ${i + 1} receives ${s.width} px wide`);
    }
    await ask("measure");
  }

  // Leaving ends the teacher's page.
  await teacher.click("[data-action=hangup]");
  await teacher.waitForSelector('#call[data-state="ended"]', { timeout: 5000 });
  check(true, "leaving ends the teacher's page");
}, FAKE);

// The school's live class through cunlink's SFU, in real Chromium contexts with
// a fake camera and microphone (started by crates/cunlink/tests/browser_live.rs).
// Env: BASE, CLASS (the city class), RURAL (comma-separated rural class ids, one
// per classroom page), COOKIE_T (the teacher), COOKIE_R (comma-separated, one per
// classroom), COOKIE_X (a teacher of another school). HOLD=S: after the checks,
// keep everything running and print `SEND measure` (the Rust side measures the
// SFU for S seconds; bench/sfu.sh): with SCREEN=1 while the teacher shares the
// screen, else before. LAYER=low|mid|high: the classroom pages pin that camera
// layer (?layer=); with high, every classroom must decode 1280×720 before the
// measurement.
//
// The teacher shares the screen with the 共享屏幕 button: Chromium's
// --use-fake-ui-for-media-stream accepts getDisplayMedia without a picker and
// --use-fake-device-for-media-stream makes the "screen" a generated 1280×720
// picture (both needed: without the fake device, Debian's headless chromium
// answers NotReadableError; --auto-select-desktop-capture-source is not needed).
import { join } from "node:path";
import { BASE, env, shots, check, run, ask } from "./lib.mjs";

// LIVE_FPS=N (bench/sfu.sh: 30, a real camera's rate): the fake camera's frame rate (Chromium's default is 20).
const FAKE = ["--use-fake-device-for-media-stream" + (env.LIVE_FPS ? `=fps=${env.LIVE_FPS}` : ""), "--use-fake-ui-for-media-stream",
  "--autoplay-policy=no-user-gesture-required"];
const connected = '#call[data-state="connected"]';
const page = (id) => `${BASE}/school/classes/${id}/live`;
const roomPage = (id) => page(id) + (env.LAYER ? `?layer=${env.LAYER}` : "");
const rural = env.RURAL.split(","), cookies = env.COOKIE_R.split(",");

async function context(browser, cookie) {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: "zh-CN" });
  const at = cookie.indexOf("=");
  await ctx.addCookies([{ name: cookie.slice(0, at), value: cookie.slice(at + 1), url: BASE }]);
  await ctx.grantPermissions(["camera", "microphone"], { origin: BASE });
  return ctx;
}

// Inbound video per track: `cam` (the camera, frames as `frames`/`width`) and `scr` (the screen).
const stats = (p) => p.evaluate(async () => {
  const live = window.cunlinkLive;
  const s = await live.pc.getStats();
  const o = { frames: 0, width: 0, cam: { frames: 0, w: 0, h: 0 }, scr: { frames: 0, w: 0, h: 0 }, audioIn: 0, layers: [] };
  s.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") {
      const t = r.mid === live.screen.mid ? o.scr : o.cam;
      t.frames += r.framesDecoded || 0; t.w = r.frameWidth || 0; t.h = r.frameHeight || 0;
    }
    if (r.type === "inbound-rtp" && r.kind === "audio") o.audioIn += r.bytesReceived || 0;
    if (r.type === "outbound-rtp" && r.kind === "video")
      o.layers.push(`${r.rid || "screen"}:${r.frameWidth || 0}x${r.frameHeight || 0}@${Math.round(r.framesPerSecond || 0)}fps,` +
        `${Math.round((r.targetBitrate || 0) / 1000)}kbit/s(${r.qualityLimitationReason || "?"})`);
  });
  o.frames = o.cam.frames; o.width = o.cam.w;
  return o;
});

/// The on-screen boxes of the screen and the camera on a page.
const boxes = (p) => p.evaluate(() => {
  const w = (s) => document.querySelector(s).getBoundingClientRect().width;
  return { screen: w("#call-screen"), camera: w("#call-remote") };
});

/// Hold for the bench: print what each classroom decodes, let the Rust side measure, print the rates.
async function measure(rooms, teacher) {
  if (env.LAYER === "high") {
    for (let i = 0; i < rooms.length; i++) {
      const s = await until(() => stats(rooms[i]), (v) => v.cam.w === 1280 && v.cam.h === 720, 60000);
      check(s.cam.w === 1280 && s.cam.h === 720, `classroom ${i + 1} decodes the 1280×720 layer (${s.cam.w}×${s.cam.h})`);
    }
  }
  const before = await Promise.all(rooms.map(stats)), t0 = Date.now();
  await ask("measure");
  const after = await Promise.all(rooms.map(stats)), secs = (Date.now() - t0) / 1000;
  for (let i = 0; i < rooms.length; i++) {
    const a = after[i], b = before[i];
    console.log(`BENCH classroom ${i + 1} decoded camera ${a.cam.w}x${a.cam.h} ${((a.cam.frames - b.cam.frames) / secs).toFixed(1)} fps` +
      (env.SCREEN ? `, screen ${a.scr.w}x${a.scr.h} ${((a.scr.frames - b.scr.frames) / secs).toFixed(1)} fps` : ""));
  }
  console.log("BENCH teacher sends " + (await stats(teacher)).layers.join(" "));
}

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
    await p.goto(roomPage(rural[i]));
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

  if (env.HOLD && !env.SCREEN) await measure(rooms, teacher);

  // The teacher shares the screen: every classroom shows it large and decodes it.
  const share = teacher.locator("[data-action=screen]");
  await share.waitFor({ timeout: 10000 });
  const sb = await share.boundingBox();
  check(sb && sb.height >= 60 && sb.width >= 300 && (await share.textContent()).trim() === "共享屏幕",
    `the teacher's page has a big 共享屏幕 button (${sb && Math.round(sb.width)}×${sb && Math.round(sb.height)} px at 360 px wide)`);
  await share.click();
  await teacher.waitForSelector('#call[data-screen="on"]', { timeout: 10000 });
  check((await share.getAttribute("aria-pressed")) === "true", "the teacher's 共享屏幕 button shares the screen");
  for (let i = 0; i < rooms.length; i++) {
    await rooms[i].waitForSelector('#call[data-screen="on"]', { timeout: 20000 });
    const a = await until(() => stats(rooms[i]), (v) => v.scr.frames > 0, 30000);
    const b = await until(() => stats(rooms[i]), (v) => v.scr.frames > a.scr.frames + 10, 30000);
    check(a.scr.frames > 0 && b.scr.frames > a.scr.frames + 10,
      `classroom ${i + 1} decodes the teacher's screen (framesDecoded ${a.scr.frames} → ${b.scr.frames}, ${b.scr.w}×${b.scr.h})`);
    const box = await boxes(rooms[i]);
    check(box.screen > 2 * box.camera, `classroom ${i + 1} shows the screen large and the camera small (${box.screen} / ${box.camera} px)`);
  }
  await rooms[0].screenshot({ path: join(shots, "live-classroom-screen-360.png") });
  // A classroom that joins while the screen is shared (here: a reload) gets it too.
  {
    const last = rooms[rooms.length - 1];
    await last.reload();
    await last.waitForSelector(connected, { timeout: 60000 });
    await last.waitForSelector('#call[data-screen="on"]', { timeout: 20000 });
    const v = await until(() => stats(last), (x) => x.scr.frames > 10, 30000);
    check(v.scr.frames > 10, `a classroom joining during the share shows and decodes the screen (framesDecoded ${v.scr.frames})`);
  }
  if (env.HOLD && env.SCREEN) await measure(rooms, teacher);

  // The teacher stops: the classrooms fall back to the camera, which keeps decoding, and the screen stops.
  await share.click();
  await teacher.waitForSelector('#call[data-screen="off"]', { timeout: 10000 });
  for (let i = 0; i < rooms.length; i++) {
    await rooms[i].waitForSelector('#call[data-screen="off"]', { timeout: 20000 });
    // Watermarks: 20 more camera frames to let screen frames already in flight be decoded,
    // then 20 more during which no screen frame may be decoded.
    const a0 = await stats(rooms[i]);
    const a = await until(() => stats(rooms[i]), (v) => v.cam.frames > a0.cam.frames + 20, 30000);
    const b = await until(() => stats(rooms[i]), (v) => v.cam.frames > a.cam.frames + 20, 30000);
    check(b.cam.frames > a.cam.frames + 20 && b.scr.frames === a.scr.frames,
      `after the teacher stops sharing, classroom ${i + 1} decodes the camera (${a.cam.frames} → ${b.cam.frames}) and no more screen (${a0.scr.frames} → ${a.scr.frames} → ${b.scr.frames})`);
    const box = await boxes(rooms[i]);
    check(box.screen === 0 && box.camera > 200, `classroom ${i + 1} shows the camera large again (${box.camera} px)`);
  }

  // Leaving ends the teacher's page.
  await teacher.click("[data-action=hangup]");
  await teacher.waitForSelector('#call[data-state="ended"]', { timeout: 5000 });
  check(true, "leaving ends the teacher's page");
}, FAKE);

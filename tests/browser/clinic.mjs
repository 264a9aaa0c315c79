// The clinic in a real browser, driven by crates/cunlink/tests/browser_clinic.rs:
// the village doctor opens a consult through the form (the clinic monitor's
// reading is filled in), the county doctor's queue page shows it without a
// reload (SSE), the county doctor accepts it and prescribes, the print page is
// one A5 sheet; then the pages' budgets, 360 px usability and contrast.
// SESSIONS: "name=session-token" lines (vdoc, cdoc, patient).
import { BASE, env, check, run, ask, appeared, audit, phone } from "./lib.mjs";

const sessions = Object.fromEntries(env.SESSIONS.split("\n").map((l) => l.split("=")));
const cookies = (who) => [{ name: "cunlink_session", value: sessions[who], url: BASE }];

await run(async (browser) => {
  const county = await browser.newContext(phone);
  await county.addCookies(cookies("cdoc"));
  const queue = await county.newPage();
  await queue.goto(BASE + "/clinic/queue");
  check((await queue.locator("#queue a").count()) === 0, "the queue starts empty");

  const village = await browser.newContext(phone);
  await village.addCookies(cookies("vdoc"));
  const form = await village.newPage();
  await form.goto(BASE + "/clinic/consults/new");
  check((await form.inputValue("#v-systolic")) === "141", "the monitor's systolic reading is filled in");
  await form.fill("#nc", "胸闷两天");
  await form.fill("#v-temperature", "37.4");
  await Promise.all([form.waitForURL(/\/clinic\/consults\/\d+/), form.click("form[action='/clinic/consults/new'] button[type=submit]")]);
  const id = form.url().match(/consults\/(\d+)/)[1];
  check(await form.locator("text=胸闷两天").count() > 0, "the consult page shows the complaint");
  check(await form.locator("#call-link").count() === 1, "the consult page has the call-link area");

  // The queue page was not reloaded: the row arrives over SSE.
  await appeared(queue.locator(`#queue a[href="/clinic/consults/${id}"]`), "the new consult appears in the open queue page");
  // A consult opened by the API shows up too.
  await ask("consult");
  await appeared(queue.locator("#queue a").nth(1), "a second consult appears without a reload");

  await queue.click(`#queue a[href="/clinic/consults/${id}"]`);
  await Promise.all([queue.waitForURL(/ok=/), queue.click("form[action$='/action'] button:has-text('接诊')")]);
  check(await queue.locator("h1", { hasText: "已接诊" }).count() === 1, "accepted");
  await queue.click("summary:has-text('开处方')");
  await queue.fill("[name=drug_0]", "氨氯地平片");
  await queue.fill("[name=dose_0]", "5 mg");
  await queue.fill("[name=route_0]", "口服");
  await queue.fill("[name=frequency_0]", "每日一次");
  await queue.fill("[name=days_0]", "14");
  await queue.fill("[name=quantity_0]", "14");
  await Promise.all([queue.waitForURL(/ok=/), queue.click("form[action$='/prescriptions'] button[type=submit]")]);
  const print = await queue.locator("a", { hasText: "打印" }).first().getAttribute("href");
  check(/\/clinic\/prescriptions\/\d+\/print/.test(print), "a print link");
  const sheet = await county.newPage();
  await sheet.goto(BASE + print);
  check(await sheet.locator("text=氨氯地平片").count() === 1, "the print page lists the drug");
  const pdf = await sheet.pdf({ preferCSSPageSize: true });
  const pages = (pdf.toString("latin1").match(/\/Type\s*\/Page[^s]/g) || []).length;
  check(pages === 1, `the prescription prints on one A5 sheet (${pages} pages)`);
  const box = pdf.toString("latin1").match(/\/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)/);
  check(box && Math.abs(+box[1] - 420) < 2 && Math.abs(+box[2] - 595) < 2, `A5 media box ${box && box.slice(1).join("×")}`);

  await audit(browser, [
    ["clinic-home-vdoc", "/clinic", cookies("vdoc")],
    ["clinic-new", "/clinic/consults/new", cookies("vdoc")],
    ["clinic-queue", "/clinic/queue", cookies("cdoc")],
    ["clinic-consult", `/clinic/consults/${id}`, cookies("cdoc")],
    ["clinic-slots", "/clinic/slots", cookies("cdoc")],
    ["clinic-record-patient", `/clinic/patients/${env.PATIENT}`, cookies("patient")],
  ]);
});

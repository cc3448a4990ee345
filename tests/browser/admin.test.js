// The admin page against the real server: CAS login as the demo admin, analytics charts, an FAQ edited in the
// page and answered at once in the widget.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { serverUrl, launch, openWidget, ask, loginAsAdmin, eventually, screenshot } = require("./helpers");

const FAQ_ID = "f-service-not-found";
const FAQ_QUESTION = "师生想要服务事项找不到怎么办？";

async function chatOnce(text) {
  const resp = await fetch(serverUrl() + "/api/v1/chat", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text }),
  });
  assert.equal(resp.status, 200);
  return resp.json();
}

test("the demo admin logs in and the analytics page draws its charts", async (t) => {
  for (const q of ["校园卡丢了怎么补办", "助学金怎么申请", "今天吃什么", "校园网怎么报修"]) await chatOnce(q);
  const b = await launch({ viewport: { width: 1280, height: 1100 } });
  t.after(() => b.close());
  const { page } = b;
  await loginAsAdmin(page);

  const bars = page.locator('svg[data-chart="per-day"] rect');
  await eventually(async () => (await bars.count()) > 0, { message: "per-day bars" });
  assert.ok((await page.locator('svg[data-chart="modes"] rect').count()) >= 6, "mode rate bars");
  assert.ok((await page.locator('svg[data-chart="satisfaction"]').count()) === 1, "satisfaction chart");
  const total = await page.locator("#kpis .kpi b").first().textContent();
  assert.ok(Number(total) >= 4, `questions counted: ${total}`);
  await page.locator("#top-questions table tr").nth(1).waitFor();
  const file = await screenshot(page, "admin-analytics.png");
  t.diagnostic(`screenshot: ${file}`);
  assert.deepEqual(b.pageErrors, []);
});

test("an FAQ edited on the admin page is answered with the new text in the widget", async (t) => {
  const b = await launch();
  t.after(() => b.close());
  const { page, context } = b;
  await loginAsAdmin(page);

  await page.locator('#tabs button[data-tab="items"]').click();
  await page.locator("#it-kind").selectOption("faq");
  await page.locator("#it-q").fill("找不到怎么办");
  const row = page.locator(`#it-list tr[data-id="${FAQ_ID}"]`);
  await row.waitFor();
  await row.click();
  const answer = page.locator('#editor textarea[name="answer"]');
  await answer.waitFor();
  const marker = `可拨打网信办服务热线 2266${String(Date.now()).slice(-4)} 反馈`;
  await answer.fill(`${await answer.inputValue()}${marker}。`);
  await page.locator('#editor button[data-action="save"]').click();
  await page.locator("#editor .msg.ok").waitFor({ timeout: 20000 });
  await screenshot(page, "admin-faq-edit.png");

  const chat = await context.newPage();
  await chat.goto(serverUrl() + "/", { waitUntil: "domcontentloaded" });
  await openWidget(chat);
  const reply = await ask(chat, FAQ_QUESTION);
  const text = await reply.textContent();
  assert.ok(text.includes(marker), `the widget answers with the edited text; got: ${text.slice(0, 300)}`);
  await screenshot(chat, "admin-faq-answered.png");
  assert.deepEqual(b.pageErrors, []);
});

test("the admin page refuses a logged-in student", async (t) => {
  const b = await launch();
  t.after(() => b.close());
  const { page } = b;
  await page.goto(serverUrl() + "/admin", { waitUntil: "domcontentloaded" });
  await page.getByRole("button", { name: "统一身份认证登录" }).click();
  await page.locator("#username").fill("2021001234");
  await page.locator("#password").fill("demo-student");
  await page.locator("form button[type=submit]").click();
  await page.waitForURL(/\/admin$/, { timeout: 15000 });
  await page.locator("#login-msg .msg.err").waitFor();
  assert.match(await page.locator("#login-msg").textContent(), /不是管理员/);
});

test("the knowledge editor pages a long list, filters and sorts it, and keeps the editor in view", async (t) => {
  const b = await launch({ viewport: { width: 1366, height: 768 } });
  t.after(() => b.close());
  const { page } = b;
  await loginAsAdmin(page);
  await page.locator('#tabs button[data-tab="items"]').click();
  await page.locator("#it-kind").selectOption("service");
  const rows = page.locator("#it-list tr.clickable");
  await rows.first().waitFor();
  assert.equal(await rows.count(), 20, "one page of 20");
  const total = Number((await page.locator("#it-list p.muted").first().textContent()).match(/共 (\d+) 条/)[1]);
  assert.ok(total > 100, `every service is listed across pages: ${total}`);
  const first = await rows.first().getAttribute("data-id");
  await page.locator('#it-list button[data-page="next"]').click();
  assert.notEqual(await rows.first().getAttribute("data-id"), first, "the next page shows other services");
  assert.match(await page.locator("#it-list .pager").textContent(), /第 2 \//);

  // A department filter keeps only that department's services.
  const dept = await page.locator("#it-dept option").nth(1).getAttribute("value");
  await page.locator("#it-dept").selectOption(dept);
  const depts = await page.locator("#it-list tr.clickable td:nth-child(2)").allTextContents();
  assert.ok(depts.length > 0 && depts.every((d) => d === dept), `${dept}: ${depts}`);
  await page.locator("#it-dept").selectOption("");
  // Sorting by the last review date.
  await page.locator('#it-list th[data-sort="last_reviewed"]').click();
  const dates = await page.locator("#it-list tr.clickable td:nth-child(3)").allTextContents();
  assert.deepEqual(dates, [...dates].sort(), "sorted by 最近复核");

  // The last row of a page: the editor opens beside it, in view, with the 办事指南's field order in Chinese.
  await page.locator('#it-list button[data-page="next"]').click();
  const row = rows.last();
  await row.scrollIntoViewIfNeeded();
  await row.click();
  const nameField = page.locator('#editor [data-field="name"] label');
  await nameField.waitFor();
  assert.ok(await page.locator("#editor h2").isVisible());
  const box = await page.locator("#editor").boundingBox();
  assert.ok(box.y >= 0 && box.y < 768, `the editor is in the viewport: ${JSON.stringify(box)}`);
  const labels = await page.locator("#editor > div > div > .field > label, #editor > div > div > .fieldset > label").allTextContents();
  assert.equal(labels[0], "名称", `${labels}`);
  assert.ok(labels.indexOf("所需材料（每行一项）") < labels.indexOf("办理流程（每行一步）"), `${labels}`);
  assert.ok(labels.every((l) => /[\u4e00-\u9fff]/.test(l)), `every label is Chinese: ${labels}`);
  await screenshot(page, "admin-editor-long-list.png");

  // A new FAQ gets its id generated; nobody types one.
  await page.locator("#it-kind").selectOption("faq");
  await page.locator("#it-new").click();
  const id = page.locator('#editor input[name="id"]');
  await id.waitFor();
  assert.match(await id.inputValue(), /^f-\d{8}-[a-z0-9]+$/);
  assert.equal(await id.getAttribute("readonly"), "");
  await page.locator('#editor textarea[name="question"], #editor input[name="question"]').fill("图书馆的自习室几点开门？");
  await page.locator('#editor textarea[name="answer"]').fill("自习室每天 7:00 至 22:30 开放，考试周延长至 23:30。");
  await page.locator('#editor button[data-action="save"]').click();
  await page.locator("#editor .msg.ok").waitFor({ timeout: 20000 });
  assert.deepEqual(b.pageErrors, []);
});

test("an unanswered question is attached through a picker of titles, with nothing chosen in advance", async (t) => {
  const asked = `${Date.now() % 1000}号楼门口的自行车停车棚归哪个部门管`;
  await chatOnce(asked);
  const b = await launch({ viewport: { width: 1366, height: 900 } });
  t.after(() => b.close());
  const { page } = b;
  await loginAsAdmin(page);
  await page.locator('#tabs button[data-tab="unanswered"]').click();
  const card = page.locator("#un-list .card").filter({ hasText: asked });
  await card.waitFor({ timeout: 15000 });
  const options = card.locator(".picker li[data-id]");
  await eventually(async () => (await options.count()) > 0, { message: "candidates by title" });
  const titles = await options.allTextContents();
  assert.ok(titles.every((x) => !/^s\d?-|^f-|^a-/.test(x)), `titles, not ids: ${titles}`);
  assert.equal(await card.locator(".picker li.chosen").count(), 0, "nothing chosen in advance");
  await card.locator('button[data-action="attach"]').click();
  await card.locator(".msg.err").waitFor();
  // Searching finds the right item by its name.
  await card.locator(".picker input").fill("报修");
  await eventually(async () => /报修/.test((await options.first().textContent()) || ""), { message: "search results" });
  await options.first().click();
  assert.match(await card.locator(".picker .muted").last().textContent(), /已选择：/);
  await screenshot(page, "admin-attach-picker.png");
  await card.locator('button[data-action="attach"]').click();
  await card.locator(".msg.ok").waitFor({ timeout: 20000 });
  assert.deepEqual(b.pageErrors, []);
});

test("logging into /admin does not log the widget on the same origin in", async (t) => {
  const b = await launch();
  t.after(() => b.close());
  const { page } = b;
  await loginAsAdmin(page);
  assert.equal(await page.evaluate(() => localStorage.getItem("ehall-bot.token")), null, "the widget's token is untouched");
  assert.ok(await page.evaluate(() => localStorage.getItem("ehall-admin.token")), "the admin's own token");
  await page.goto(serverUrl() + "/", { waitUntil: "domcontentloaded" });
  const w = await openWidget(page);
  await w.welcome.first().waitFor();
  assert.doesNotMatch(await w.status.textContent(), /管理员|A0001|·/);
  // Logged out, the admin page shows no tab bar.
  await page.goto(serverUrl() + "/admin", { waitUntil: "domcontentloaded" });
  await page.locator("#logout").click();
  assert.equal(await page.locator("#tabs").isVisible(), false);
});

test("a logged question opens its session's whole dialogue", async (t) => {
  const first = await chatOnce("校园网连不上怎么办");
  const resp = await fetch(serverUrl() + "/api/v1/chat", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text: "报修电话是多少", session: first.session }),
  });
  assert.equal(resp.status, 200);
  const b = await launch({ viewport: { width: 1366, height: 900 } });
  t.after(() => b.close());
  const { page } = b;
  await loginAsAdmin(page);
  await page.locator('#tabs button[data-tab="questions"]').click();
  await page.locator("#q-text").fill("报修电话是多少");
  await page.locator("#q-refresh").click();
  const row = page.locator("#q-list tr.clickable").first();
  await row.waitFor();
  await row.click();
  await page.locator('#explain button[data-action="conversation"]').click();
  const turns = page.locator("#conversation .turn");
  await eventually(async () => (await turns.count()) === 2, { message: "both turns of the session" });
  assert.match(await turns.nth(0).textContent(), /校园网连不上怎么办/);
  assert.match(await page.locator("#conversation .turn.selected").textContent(), /报修电话是多少/);
  await screenshot(page, "admin-conversation.png");
  assert.deepEqual(b.pageErrors, []);
});

test("a CSV import is previewed on the page before it is applied", async (t) => {
  const b = await launch({ viewport: { width: 1366, height: 900 } });
  t.after(() => b.close());
  const { page } = b;
  await loginAsAdmin(page);
  await page.locator('#tabs button[data-tab="items"]').click();
  await page.locator("#it-kind").selectOption("faq");
  await page.locator("#it-list tr.clickable").first().waitFor();
  const csv = "id,question,answer\nf-browser-import,体育馆周末开放吗？,体育馆周六周日9:00至21:00开放。\n";
  await page.locator("#it-import").setInputFiles({ name: "faqs.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  const preview = page.locator('#it-import-preview [data-preview="faq"]');
  await preview.waitFor({ timeout: 15000 });
  assert.match(await preview.textContent(), /新建 1 条/);
  assert.match(await preview.textContent(), /体育馆周末开放吗/);
  await screenshot(page, "admin-import-preview.png");
  await preview.locator('button[data-action="apply-import"]').click();
  await page.locator("#it-import-preview .msg.ok").waitFor({ timeout: 20000 });
  // A file with a problem shows the problem and imports nothing.
  const bad = "id,question,answer\nf-browser-bad,,没有问题\n";
  await page.locator("#it-import").setInputFiles({ name: "bad.csv", mimeType: "text/csv", buffer: Buffer.from(bad) });
  await page.locator("#it-import-preview .msg.err").waitFor({ timeout: 15000 });
  assert.match(await page.locator("#it-import-preview").textContent(), /f-browser-bad/);
  assert.deepEqual(b.pageErrors, []);
});

test("the whole knowledge base is exported as a data/ ZIP and an import of it is previewed before it is applied", async (t) => {
  const b = await launch({ viewport: { width: 1366, height: 900 } });
  t.after(() => b.close());
  const { page } = b;
  await loginAsAdmin(page);
  await page.locator('#tabs button[data-tab="items"]').click();
  await page.locator("#it-list tr.clickable").first().waitFor();
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#kb-export").click()]);
  assert.equal(download.suggestedFilename(), "ehall-data.zip");
  const archive = require("node:fs").readFileSync(await download.path());
  assert.equal(archive.subarray(0, 2).toString(), "PK", "a ZIP archive");
  // An FAQ added after the export: importing the export retires it, and the preview says so first.
  const created = await page.evaluate(async () => {
    const resp = await fetch("/api/v1/admin/items/faq", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + localStorage.getItem("ehall-admin.token") },
      body: JSON.stringify({ body: { id: "f-browser-after-export", question: "游泳馆冬天开放吗？", answer: "游泳馆冬季每天开放。" } }),
    });
    return resp.status;
  });
  assert.equal(created, 201);
  await page.locator("#kb-import").setInputFiles({ name: "ehall-data.zip", mimeType: "application/zip", buffer: archive });
  const preview = page.locator('#it-import-preview [data-preview="data"]');
  await preview.waitFor({ timeout: 20000 });
  assert.match(await preview.textContent(), /下线 1 条/);
  assert.match(await preview.textContent(), /f-browser-after-export/);
  await screenshot(page, "admin-data-import-preview.png");
  await preview.locator('button[data-action="apply-data-import"]').click();
  await page.locator("#it-import-preview .msg.ok").waitFor({ timeout: 30000 });
  // Not an archive: the problem is shown and nothing changes.
  await page.locator("#kb-import").setInputFiles({ name: "notes.zip", mimeType: "application/zip", buffer: Buffer.from("not a zip") });
  await page.locator("#it-import-preview .msg.err").waitFor({ timeout: 15000 });
  assert.match(await page.locator("#it-import-preview").textContent(), /ZIP/);
  assert.deepEqual(b.pageErrors, []);
});

// The admin page against the real server: CAS login as the demo admin, analytics charts, an FAQ edited in the
// page and answered at once in the widget.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { serverUrl, launch, openWidget, ask, eventually, screenshot } = require("./helpers");

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

/** Logs in on the admin page through the demo CAS as A0001 and waits for the dashboard. */
async function loginAsAdmin(page) {
  await page.goto(serverUrl() + "/admin", { waitUntil: "domcontentloaded" });
  await page.getByRole("button", { name: "统一身份认证登录" }).click();
  await page.locator("#username").waitFor();
  await page.locator("#username").fill("A0001");
  await page.locator("#password").fill("demo-admin");
  await page.locator("form button[type=submit]").click();
  await page.waitForURL(/\/admin$/, { timeout: 15000 });
  await eventually(async () => ((await page.locator("#who").textContent()) || "").includes("A0001"), { message: "admin name shown" });
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

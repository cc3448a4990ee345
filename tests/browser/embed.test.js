// The widget embedded on a second origin (a tiny portal page served from another port by this test), logging
// in through the real server's demo CAS: the popup asks which site gets the login, hands it over under a
// one-time nonce and closes itself; the widget talks as the user; 退出登录 clears the transcript.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const { serverUrl, launch, widget, openWidget, ask, eventually, screenshot } = require("./helpers");

/** Serves a portal page that embeds the widget from the bot's server; resolves to its origin. */
async function portal(t) {
  const server = http.createServer((req, res) => {
    if (req.url.startsWith("/favicon")) {
      res.writeHead(204);
      return res.end();
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>某学院门户（嵌入测试）</title></head>
<body style="font-family:sans-serif;background:#eef3f8;margin:0;padding:24px"><h1>某学院门户</h1>
<p>这是另一个网站（另一个端口）上嵌入的智能助手。</p>
<script src="${serverUrl()}/widget.js" data-server="${serverUrl()}"></script></body></html>`);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  // "localhost" and the bot's 127.0.0.1 differ in host as well as port.
  return `http://localhost:${server.address().port}`;
}

for (const [label, viewport] of [
  ["desktop", { width: 1366, height: 768 }],
  ["phone", { width: 390, height: 844 }],
]) {
  test(`embedded on another origin (${label}), login through the popup works and the popup closes`, async (t) => {
    const origin = await portal(t);
    assert.notEqual(new URL(origin).origin, new URL(serverUrl()).origin, "two origins");
    const b = await launch({ viewport, isMobile: viewport.width < 500 });
    t.after(() => b.close());
    const { page, context } = b;
    await page.goto(origin + "/", { waitUntil: "domcontentloaded" });
    const w = await openWidget(page);
    await w.welcome.first().waitFor();
    await eventually(async () => (await w.status.textContent()).includes("在线"), { message: "connected" });

    const first = await ask(page, "助学金怎么申请");
    await first.locator(".card").first().waitFor();
    const reply = await ask(page, "查一卡通余额");
    const login = reply.locator(".card.login a.btn.login");
    await login.waitFor({ timeout: 5000 });

    const [popup] = await Promise.all([context.waitForEvent("page"), login.click()]);
    await popup.locator("#username").waitFor({ timeout: 15000 });
    assert.match(popup.url(), /\/cas\/login\?service=/);
    await popup.locator("#username").fill("2021001234");
    await popup.locator("#password").fill("demo-student");
    await popup.locator("form button[type=submit]").click();

    // This portal is not in auth.allowed_origins: the bot's page names it and asks first.
    const confirm = popup.getByRole("button", { name: "确认登录" });
    await confirm.waitFor({ timeout: 15000 });
    assert.match(popup.url(), /\/auth\/embed\/done\?nonce=/);
    assert.equal(await popup.locator(".origin").textContent(), origin);
    await popup.setViewportSize({ width: Math.min(viewport.width, 520), height: 680 }).catch(() => {});
    await screenshot(popup, `embed-confirm-${label}.png`);
    const closed = popup.waitForEvent("close", { timeout: 15000 });
    await confirm.click();
    await closed; // the popup closes itself after the hand-over

    const status = await eventually(
      async () => {
        const text = await w.status.textContent();
        return text.includes("张三") && text;
      },
      { message: "the embedded widget names the logged-in user" }
    );
    t.diagnostic(`status after the embedded login: ${status}`);
    assert.ok(await page.evaluate(() => localStorage.getItem("ehall-bot.token")), "the embedding page holds the token");
    assert.equal(await w.errors.count(), 0, `no error line: ${await w.errors.allTextContents()}`);
    assert.match(await w.host.locator(".system").last().textContent(), /您已登录：张三/);

    const again = await ask(page, "查一卡通余额");
    const kinds = await again.locator(".card").evaluateAll((cards) => cards.map((c) => c.dataset.kind));
    assert.ok(!kinds.includes("login"), `no login card once logged in: ${kinds}`);
    await screenshot(page, `embed-logged-in-${label}.png`);

    // 退出登录: POST /auth/logout (or the old GET), then the transcript and session are gone from this browser.
    const before = await page.evaluate(() => JSON.parse(localStorage.getItem("ehall-bot.transcript")).length);
    assert.ok(before > 3);
    const bye = await ask(page, "退出登录");
    await bye.locator("a.btn", { hasText: "退出登录" }).click();
    await eventually(async () => !(await w.status.textContent()).includes("张三"), { message: "logged out" });
    assert.equal(await page.evaluate(() => localStorage.getItem("ehall-bot.token")), null);
    await eventually(async () => (await w.host.locator(".row.user").count()) === 0, { message: "transcript cleared" });
    assert.match(await w.host.locator(".system").first().textContent(), /已退出登录.*已清除/);
    const stored = await page.evaluate(() => JSON.parse(localStorage.getItem("ehall-bot.transcript") || "[]"));
    assert.ok(stored.every((e) => e.t !== "user"), "no user turn is kept after logout");
    assert.deepEqual(b.pageErrors, []);
  });
}

test("a popup closed before logging in says so in the chat (no silent failure)", async (t) => {
  const origin = await portal(t);
  const b = await launch({ viewport: { width: 1366, height: 768 } });
  t.after(() => b.close());
  const { page, context } = b;
  await page.goto(origin + "/", { waitUntil: "domcontentloaded" });
  const w = await openWidget(page);
  await w.welcome.first().waitFor();
  const reply = await ask(page, "我要登录");
  const login = reply.locator(".card.login a.btn.login");
  await login.waitFor({ timeout: 5000 });
  const [popup] = await Promise.all([context.waitForEvent("page"), login.click()]);
  await popup.locator("#username").waitFor({ timeout: 15000 });
  await popup.close();
  await w.errors.first().waitFor({ timeout: 15000 });
  assert.match(await w.errors.first().textContent(), /登录窗口已关闭，尚未登录/);
  assert.equal(await page.evaluate(() => localStorage.getItem("ehall-bot.token")), null);
});

// Issue 16's widget points with scripted protocol frames (the page and widget.js from the real server, the
// websocket answered by routeWebSocket): compact cards, tap-to-call, local times, timestamps, rating buttons,
// the input's font and counter, offline 未发送/重试, clarify choices, clearing the transcript.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { serverUrl, launch, widget, openWidget, eventually, screenshot, scriptSocket } = require("./helpers");

async function setUp(t, script, options) {
  const b = await launch(options);
  t.after(() => b.close());
  if (options && options.clock) await b.page.clock.install();
  const connections = await scriptSocket(b.page, script);
  await b.page.goto(serverUrl() + "/", { waitUntil: "domcontentloaded" });
  return { ...b, connections, w: widget(b.page) };
}

const welcome = (session, extra = {}) => ({ type: "welcome", session, user: null, text: "您好，我是办事大厅智能助手", suggestions: [], ...extra });
const reply = (id, fields) => ({ type: "reply", id, mode: "answer", intent: "test", confidence: 0.9, text: "", cards: [], suggestions: [], ...fields });

const SUMMARY = "家庭经济困难的全日制本专科学生可申请国家助学金，每学年评审一次，按档次发放。";
/** A 办事指南 card with 14 fields, the way the server sends one. */
function fullServiceCard() {
  const fields = [
    ["服务对象", "本专科生"],
    ["责任部门", "学工部（学生资助管理中心）"],
    ["咨询电话", "022-26675000，或 13812345678"],
    ["办理地点", "学生事务中心 2 楼 204 室"],
    ["办理时间", "每年 9 月"],
    ["办理材料", "家庭经济困难学生认定申请表、身份证复印件"],
    ["办理流程", "1. 登录学工系统提交申请\n2. 辅导员审核\n3. 学院评议\n4. 学校审批"],
    ["办理时限", "20 个工作日"],
    ["收费标准", "不收费"],
    ["办理方式", "线上办理"],
    ["在线办理", "学工管理系统"],
    ["更新时间", "2026-11-30T16:05:00Z"],
    ["设定依据", "《高等学校学生资助管理办法》"],
    ["办理须知", "本服务事项由学生本人登陆学工管理系统进行申请。".repeat(6)],
  ].map(([label, value]) => ({ label, value }));
  return {
    kind: "service",
    id: "s1-xg-grant",
    title: "学生助学金申请",
    body: SUMMARY,
    fields,
    actions: [{ type: "action", label: "在线办理", action: "service.start", args: { service: "s1-xg-grant" } }],
  };
}

for (const [label, viewport] of [
  ["desktop", { width: 1366, height: 768 }],
  ["phone", { width: 390, height: 844 }],
]) {
  test(`a service card is compact and fits the chat (${label}); a field follow-up shows only its field`, async (t) => {
    const { page, w, pageErrors } = await setUp(
      t,
      (conn) => {
        conn.send(welcome("s_compact"));
        conn.onFrame = (f) => {
          if (f.type !== "message") return;
          if (f.text === "助学金怎么申请") {
            conn.send(reply("r_full", { in_reply_to: f.id, text: `为您找到「学生助学金申请」的办事指南：${SUMMARY}`, cards: [fullServiceCard()] }));
          } else {
            conn.send(
              reply("r_phone", {
                in_reply_to: f.id,
                intent: "service.field.phone",
                text: "「学生助学金申请」的咨询电话：022-26675000（学生事务中心 2 楼 204 室）",
                cards: [{ kind: "service", id: "s1-xg-grant", title: "学生助学金申请", fields: [{ label: "咨询电话", value: "022-26675000（学生事务中心 2 楼 204 室）" }], actions: [] }],
              })
            );
          }
        };
      },
      { viewport, isMobile: viewport.width < 500 }
    );
    await openWidget(page);
    await w.welcome.waitFor();
    await w.input.fill("助学金怎么申请");
    await w.input.press("Enter");
    const row = w.replies.first();
    await row.waitFor();
    const card = row.locator(".card").first();

    // The bubble keeps its lead-in; the summary is shown once, in the card.
    assert.equal(await row.locator(":scope > .bubble").textContent(), "为您找到「学生助学金申请」的办事指南");
    assert.equal(await card.locator(".body").textContent(), SUMMARY);
    // Four fields, then 展开其余 10 项.
    const visible = await card.locator("dt:visible").allTextContents();
    assert.deepEqual(visible, ["服务对象", "责任部门", "咨询电话", "办理地点"]);
    const more = card.getByRole("button", { name: "展开其余 10 项" });
    assert.equal(await more.getAttribute("aria-expanded"), "false");
    const [cardBox, logBox] = [await card.boundingBox(), await w.log.boundingBox()];
    t.diagnostic(`compact card ${Math.round(cardBox.width)}×${Math.round(cardBox.height)} in a ${Math.round(logBox.width)}×${Math.round(logBox.height)} chat`);
    assert.ok(cardBox.height < logBox.height, "the compact card is shorter than the chat area");
    assert.ok(cardBox.x >= logBox.x && cardBox.x + cardBox.width <= logBox.x + logBox.width + 1, "the card fits its width");
    await screenshot(page, `compact-card-${label}.png`);

    // Phone numbers call; the UTC time shows local (the browser's zone); each message has its time.
    const tels = await card.locator("a.tel").evaluateAll((links) => links.map((a) => a.getAttribute("href")));
    assert.deepEqual(tels, ["tel:02226675000", "tel:13812345678"]);
    await more.click();
    assert.equal(await card.locator("dt:visible").count(), 14);
    const updated = await card.locator("dt", { hasText: /^更新时间$/ }).locator("xpath=following-sibling::dd[1]").textContent();
    const expected = await page.evaluate(() => {
      const d = new Date("2026-11-30T16:05:00Z");
      const p = (n) => String(n).padStart(2, "0");
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
    });
    assert.equal(updated, expected);
    assert.doesNotMatch(updated, /T|Z/);
    assert.match(await row.locator(".meta time").textContent(), /^\d{2}:\d{2}$/);
    assert.match(await w.host.locator(".row.user .meta time").first().textContent(), /^\d{2}:\d{2}$/);

    // 电话多少: a card with the asked field only, no 展开.
    await w.input.fill("电话多少");
    await w.input.press("Enter");
    const follow = w.replies.nth(1);
    await follow.waitFor();
    assert.equal(await follow.locator("dt").count(), 1);
    assert.equal(await follow.locator(".fields-more").count(), 0);
    assert.equal(await follow.locator(".card a.tel").getAttribute("href"), "tel:02226675000");
    assert.equal(await follow.locator(":scope > .bubble").count(), 0, "the text bubble does not repeat the card's field");
    await follow.scrollIntoViewIfNeeded();
    await screenshot(page, `field-follow-up-${label}.png`);
    assert.deepEqual(pageErrors, []);
  });
}

test("ratings are SVG buttons of 32 px or more at full opacity; the input is 16 px; the counter shows over 2,000", async (t) => {
  const { page, w, connections } = await setUp(t, (conn) => {
    conn.send(welcome("s_ui"));
    conn.onFrame = (f) => {
      if (f.type === "message") conn.send(reply("r_ui", { in_reply_to: f.id, text: "好的" }));
    };
  });
  await openWidget(page);
  await w.welcome.waitFor();
  await w.input.fill("你好");
  await w.input.press("Enter");
  await w.replies.first().waitFor();
  for (const name of ["有帮助", "没有帮助"]) {
    const button = w.replies.first().getByRole("button", { name, exact: true });
    const look = await button.evaluate((b) => {
      const s = getComputedStyle(b);
      const r = b.getBoundingClientRect();
      return { w: r.width, h: r.height, opacity: s.opacity, svg: b.querySelectorAll("svg path").length, text: b.textContent };
    });
    assert.ok(look.w >= 32 && look.h >= 32, `${name} is ${look.w}×${look.h}`);
    assert.equal(look.opacity, "1");
    assert.equal(look.svg, 1, "drawn as inline SVG");
    assert.equal(look.text, "", "no emoji");
  }
  assert.ok(parseFloat(await w.input.evaluate((i) => getComputedStyle(i).fontSize)) >= 16, "input font ≥ 16 px");

  // Pasting 2,100 characters keeps them all and says so; Enter sends nothing.
  const long = "助学金".repeat(700);
  await w.input.focus();
  await page.evaluate((text) => {
    const input = document.querySelector("#ehall-bot-widget").shadowRoot.querySelector("textarea");
    input.value = text;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }, long);
  assert.equal((await w.input.inputValue()).length, 2100);
  const counter = w.host.locator(".counter");
  assert.match(await counter.textContent(), /2100 \/ 2000.*超出 100 字/);
  assert.match(await counter.getAttribute("class"), /over/);
  const sent = connections[0].received.filter((f) => f.type === "message").length;
  await w.input.press("Enter");
  await page.waitForTimeout(300);
  assert.equal(connections[0].received.filter((f) => f.type === "message").length, sent, "nothing was sent");
  assert.equal((await w.input.inputValue()).length, 2100, "nothing was cut");
  await w.input.fill("短消息");
  assert.equal(await counter.isVisible(), false);
  await screenshot(page, "ratings-and-input.png");
});

for (const [label, viewport] of [
  ["desktop", { width: 1366, height: 768 }],
  ["phone", { width: 390, height: 844 }],
]) {
  test(`offline (${label}): a message typed while disconnected is 未发送 with 重试; online reconnects at once`, async (t) => {
    let refuse = false;
    const { page, w, connections } = await setUp(
      t,
      (conn) => {
        if (refuse) {
          conn.ws.close({ code: 1013, reason: "offline" });
          return;
        }
        conn.send(welcome(conn.url.searchParams.get("session") || "s_off"));
        conn.onFrame = (f) => {
          if (f.type === "message") conn.send(reply("r_" + f.id, { in_reply_to: f.id, text: "收到：" + f.text }));
        };
      },
      { viewport, isMobile: viewport.width < 500, clock: true }
    );
    await openWidget(page);
    await w.welcome.waitFor();
    refuse = true;
    await connections[0].ws.close({ code: 1006, reason: "network" });
    await eventually(async () => /重试/.test(await w.status.textContent()), { message: "waiting to retry" });
    // Several refused attempts: the backoff grows (the fake clock stands still unless moved).
    await page.clock.fastForward(2000);
    await page.clock.fastForward(4000);
    await eventually(async () => /秒后重试/.test(await w.status.textContent()), { message: "backing off" });
    const attempts = connections.length;

    await w.input.fill("断网时发的消息");
    await w.input.press("Enter");
    const row = w.host.locator(".row.user.unsent");
    await row.waitFor();
    assert.match(await row.textContent(), /断网时发的消息.*未发送.*重试/);
    assert.equal(await w.host.locator(".typing").isVisible(), true, "the typing line stays while queued");
    assert.match(await w.host.locator(".typing").textContent(), /网络未连接/);
    await screenshot(page, `offline-unsent-${label}.png`);

    // 重试 while still offline: one more attempt at once, still refused, the mark stays.
    await row.getByRole("button", { name: "重试发送" }).click();
    await eventually(() => connections.length === attempts + 1, { message: "重试 connects at once" });
    assert.equal(await w.host.locator(".row.user.unsent").count(), 1);

    // Back online: the browser's `online` event reconnects without waiting out the backoff.
    refuse = false;
    const before = connections.length;
    await page.evaluate(() => window.dispatchEvent(new Event("online")));
    await eventually(() => connections.length === before + 1, { message: "`online` reconnects at once" });
    await eventually(async () => (await w.replies.count()) === 1, { message: "the queued message's reply" });
    assert.equal(await w.replies.first().locator(".bubble").textContent(), "收到：断网时发的消息");
    assert.equal(await w.host.locator(".row.user.unsent").count(), 0, "no longer marked");
    assert.equal(await w.host.locator(".typing").isVisible(), false);
    assert.equal(connections[connections.length - 1].url.searchParams.get("session"), "s_off");
    await screenshot(page, `offline-recovered-${label}.png`);

    // Hidden and shown again while waiting: `visibilitychange` reconnects at once too.
    refuse = true;
    await connections[connections.length - 1].ws.close({ code: 1006, reason: "network" });
    await eventually(async () => /重试/.test(await w.status.textContent()), { message: "waiting again" });
    refuse = false;
    const hidden = connections.length;
    await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
    await eventually(() => connections.length === hidden + 1, { message: "`visibilitychange` reconnects at once" });
    await eventually(async () => (await w.status.textContent()).includes("在线"));
  });
}

test("a clarify choice echoes the item's name and disables the old choices", async (t) => {
  const { page, w, connections } = await setUp(t, (conn) => {
    conn.send(welcome("s_clarify"));
    conn.onFrame = (f) => {
      if (f.type === "message")
        conn.send(
          reply("r_clarify", {
            in_reply_to: f.id,
            mode: "clarify",
            text: "您想了解的是下面哪一项？请点选，或换个说法告诉我。",
            cards: ["学生助学金申请", "学生奖学金申请"].map((title, i) => ({
              kind: "service",
              id: "s" + i,
              title,
              body: "简介",
              fields: [],
              actions: [{ type: "action", label: "就是这个", action: "item.show", args: { id: "s" + i } }],
            })),
          })
        );
      if (f.type === "action") conn.send(reply("r_shown", { in_reply_to: f.id, text: "办事指南" }));
    };
  });
  await openWidget(page);
  await w.welcome.waitFor();
  await w.input.fill("申请");
  await w.input.press("Enter");
  const clarify = w.replies.first();
  await clarify.waitFor();
  await clarify.getByRole("button", { name: "就是这个" }).nth(1).click();
  await w.replies.nth(1).waitFor();
  assert.equal(await w.host.locator(".row.user .bubble").last().textContent(), "我：学生奖学金申请");
  const action = connections[0].received.find((f) => f.type === "action");
  assert.deepEqual(action.args, { id: "s1" });
  const states = await clarify.locator("button.postback").evaluateAll((bs) => bs.map((b) => b.disabled));
  assert.deepEqual(states, [true, true], "both old choices are disabled");
  // After a reload the restored clarify stays answered.
  await page.reload({ waitUntil: "domcontentloaded" });
  await w.panel.waitFor({ state: "visible" });
  const restored = await w.replies.first().locator("button.postback").evaluateAll((bs) => bs.map((b) => b.disabled));
  assert.deepEqual(restored, [true, true]);
});

test("清除记录 and another user's login clear the transcript and the session id", async (t) => {
  const { page, w, connections } = await setUp(t, (conn) => {
    const token = conn.url.searchParams.get("token");
    const users = { a: { id: "2021001234", name: "张三", role: "学生" }, b: { id: "T2008001", name: "李老师", role: "教师" } };
    const session = conn.url.searchParams.get("session") || "s_" + (token || "guest") + connections.length;
    conn.send(welcome(token === "b" ? "s_b" : session, { user: users[token] || null }));
    conn.onFrame = (f) => {
      if (f.type === "message") conn.send(reply("r_" + f.id, { in_reply_to: f.id, text: "收到：" + f.text }));
    };
  });
  await openWidget(page);
  await w.welcome.waitFor();
  await page.evaluate(() => window.EhallBot.setToken("a"));
  await eventually(async () => /张三/.test(await w.status.textContent()), { message: "user A" });
  await w.input.fill("张三的私事");
  await w.input.press("Enter");
  await w.replies.first().waitFor();

  // User B logs in on the same browser: A's dialogue disappears.
  await page.evaluate(() => window.EhallBot.setToken("b"));
  await eventually(async () => /李老师/.test(await w.status.textContent()), { message: "user B" });
  await eventually(async () => !/张三的私事/.test(await w.log.textContent()), { message: "A's turn gone from the screen" });
  const stored = await page.evaluate(() => localStorage.getItem("ehall-bot.transcript"));
  assert.doesNotMatch(stored, /张三的私事/);
  assert.equal(await page.evaluate(() => localStorage.getItem("ehall-bot.session")), "s_b");

  // 清除记录: transcript and session id go, a new session begins.
  await w.input.fill("李老师的问题");
  await w.input.press("Enter");
  await eventually(async () => (await w.replies.count()) === 1, { message: "B's reply" });
  const count = connections.length;
  await w.host.getByRole("button", { name: "清除记录" }).click();
  await eventually(() => connections.length === count + 1, { message: "a new connection" });
  assert.equal(connections[count].url.searchParams.get("session"), null, "no session id is sent");
  await eventually(async () => (await w.host.locator(".row.user").count()) === 0, { message: "no turns on screen" });
  assert.match(await w.host.locator(".system").first().textContent(), /对话记录已清除/);
  const after = await page.evaluate(() => JSON.parse(localStorage.getItem("ehall-bot.transcript") || "[]"));
  assert.ok(after.every((e) => e.t === "welcome"), JSON.stringify(after));
  assert.equal(await w.welcome.count(), 1, "one fresh greeting");
});

// Widget tests with scripted protocol frames: the page and widget.js come from the real server at EHALL_URL,
// while the websocket is answered by Playwright's routeWebSocket, so every card kind, notice, error and
// reconnection case can be shown exactly and without depending on what the knowledge base holds.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { serverUrl, launch, widget, openWidget, eventually, screenshot, scriptSocket } = require("./helpers");

const XSS = "<img src=x onerror=alert(1)>";
const KINDS = ["service", "app", "faq", "news", "task", "message", "account", "contact", "feedback", "login", "list"];

function welcome(session, extra = {}) {
  return {
    type: "welcome",
    session,
    user: null,
    text: "您好，我是办事大厅智能助手",
    suggestions: [{ label: "助学金怎么申请", text: "助学金怎么申请" }],
    ...extra,
  };
}

function reply(id, fields) {
  return {
    type: "reply",
    id,
    mode: "answer",
    intent: "test",
    confidence: 0.9,
    text: "",
    cards: [],
    suggestions: [],
    ...fields,
  };
}

/** One card of every kind, each text carrying markup that must stay text. */
function everyKindCards() {
  return KINDS.map((kind) => {
    const card = {
      kind,
      id: `${kind}-1`,
      title: `${kind} 标题 ${XSS}`,
      subtitle: `副标题 ${XSS}`,
      body: `正文 <b>粗体</b> ${XSS}`,
      fields: [
        { label: `字段 ${XSS}`, value: `值 <script>alert(2)</script>` },
        { label: "办理须知", value: "本服务事项由学生本人登陆学工管理系统进行申请。".repeat(8) },
      ],
      actions: [],
    };
    if (kind === "login") {
      card.actions = [{ type: "open_url", label: "登录", url: serverUrl() + "/?login" }];
    } else if (kind === "list") {
      card.items = [
        { kind: "service", id: "s-a", title: "学生助学金申请", fields: [{ label: "责任部门", value: "学工部" }], actions: [] },
        { kind: "app", id: "a-b", title: "学工系统", fields: [], actions: [{ type: "open_url", label: "打开", url: "https://xg.example/" }] },
      ];
    } else {
      card.actions = [
        { type: "open_url", label: `打开 ${XSS}`, url: serverUrl() + "/?opened=" + kind },
        { type: "action", label: "收藏", action: "app.favorite", args: { app: `${kind}-1` } },
        { type: "open_url", label: "恶意链接", url: "javascript:alert(3)" },
      ];
    }
    return card;
  });
}

async function setUp(t, script, options) {
  const b = await launch(options);
  t.after(() => b.close());
  const connections = await scriptSocket(b.page, script);
  await b.page.goto(serverUrl() + "/", { waitUntil: "domcontentloaded" });
  return { ...b, connections, w: widget(b.page) };
}

test("every card kind renders its title, fields, nested items and actions", async (t) => {
  const { page, w, connections, dialogs } = await setUp(t, (conn) => {
    conn.send(welcome("s_cards"));
    conn.onFrame = (f) => {
      if (f.type === "message") conn.send(reply("r_all", { in_reply_to: f.id, text: "全部卡片", cards: everyKindCards() }));
    };
  });
  await openWidget(page);
  await w.welcome.waitFor();
  await w.input.fill("卡片");
  await w.send.click();
  const row = w.replies.first();
  await row.waitFor();
  assert.equal(connections[0].received.find((f) => f.type === "message").text, "卡片");

  for (const kind of KINDS) {
    const card = row.locator(`:scope > .cards > .card[data-kind="${kind}"]`);
    assert.equal(await card.count(), 1, `one ${kind} card`);
    assert.equal(await card.locator("h3").textContent(), `${kind} 标题 ${XSS}`);
    assert.equal(await card.locator("dd").first().textContent(), "值 <script>alert(2)</script>");
  }
  // A long value is clamped to a few lines and opens with 展开.
  const notes = row.locator('.card[data-kind="service"] dd').nth(1);
  const clampedHeight = (await notes.locator(".value").boundingBox()).height;
  const more = notes.getByRole("button", { name: "展开" });
  assert.equal(await more.getAttribute("aria-expanded"), "false");
  await more.click();
  assert.equal(await notes.getByRole("button", { name: "收起" }).getAttribute("aria-expanded"), "true");
  assert.ok((await notes.locator(".value").boundingBox()).height > clampedHeight * 1.5, "展开 shows the whole value");

  const listItems = row.locator('.card[data-kind="list"] .items > .card');
  assert.equal(await listItems.count(), 2, "the list card shows its nested items");
  assert.equal(await listItems.first().locator("h4").textContent(), "学生助学金申请");
  assert.equal(await listItems.nth(1).locator("a.btn").getAttribute("href"), "https://xg.example/");

  const login = row.locator('.card[data-kind="login"] a.btn.login');
  assert.equal(await login.textContent(), "登录");
  assert.equal(await login.getAttribute("target"), "_blank");

  // No markup from the bot became elements, no script ran, javascript: links were dropped.
  const counts = await page.evaluate(() => {
    const root = document.querySelector("#ehall-bot-widget").shadowRoot;
    return {
      img: root.querySelectorAll("img").length,
      b: root.querySelectorAll(".log b").length,
      script: root.querySelectorAll("script").length,
      jsLinks: [...root.querySelectorAll("a")].filter((a) => !/^https?:/.test(a.href)).length,
      evil: [...root.querySelectorAll(".btn")].filter((b) => b.textContent === "恶意链接").length,
    };
  });
  assert.deepEqual(counts, { img: 0, b: 0, script: 0, jsLinks: 0, evil: 0 });
  await page.waitForTimeout(300);
  assert.deepEqual(dialogs, []);
  await row.locator('.card[data-kind="list"]').scrollIntoViewIfNeeded();
  await screenshot(page, "every-card-kind.png");
});

test("card actions, open_url links and suggestion chips send the right frames", async (t) => {
  const { page, context, w, connections } = await setUp(t, (conn) => {
    conn.send(welcome("s_actions"));
    let n = 0;
    conn.onFrame = (f) => {
      if (f.type !== "message" && f.type !== "action") return;
      n += 1;
      conn.send(
        reply(`r_${n}`, {
          in_reply_to: f.id,
          text: `第 ${n} 次回答`,
          cards: everyKindCards().slice(0, 1),
          suggestions: [
            { label: "需要什么材料", text: "需要什么材料" },
            { label: "在线办理", action: "service.start", args: { service: "s1-xg-grant" } },
          ],
        })
      );
    };
  });
  await openWidget(page);
  await w.welcome.waitFor();
  const received = () => connections[0].received.filter((f) => f.type !== "ping");

  // A welcome suggestion is a text quick reply.
  await w.chips.first().click();
  await w.replies.nth(0).waitFor();
  assert.deepEqual(
    received().map(({ type, text }) => ({ type, text })),
    [{ type: "message", text: "助学金怎么申请" }]
  );

  // A postback button on a card.
  await w.replies.nth(0).getByRole("button", { name: "收藏" }).click();
  await w.replies.nth(1).waitFor();
  const action = received()[1];
  assert.equal(action.type, "action");
  assert.equal(action.action, "app.favorite");
  assert.deepEqual(action.args, { app: "service-1" });
  assert.ok(action.id, "frames carry an id");

  // An action chip posts its action and args; only the newest chips are offered.
  assert.equal(await w.chips.count(), 2);
  await w.chips.filter({ hasText: "在线办理" }).click();
  await w.replies.nth(2).waitFor();
  const chip = received()[2];
  assert.deepEqual({ type: chip.type, action: chip.action, args: chip.args }, {
    type: "action",
    action: "service.start",
    args: { service: "s1-xg-grant" },
  });
  assert.deepEqual(
    await w.host.locator(".row.user .bubble").allTextContents(),
    ["我：助学金怎么申请", "我：收藏", "我：在线办理"]
  );

  // open_url opens a new tab at the card's URL.
  const link = w.replies.nth(2).locator("a.btn.open-url").first();
  const [popup] = await Promise.all([context.waitForEvent("page"), link.click()]);
  await popup.waitForURL(/opened=service/);
  assert.equal(new URL(popup.url()).search, "?opened=service");
});

test("notices are highlighted, errors are inline, unread notices badge the closed launcher", async (t) => {
  let socket;
  const { page, w } = await setUp(t, (conn) => {
    socket = conn;
    conn.send(welcome("s_notice"));
  });
  await openWidget(page);
  await w.welcome.waitFor();
  socket.send({
    type: "notice",
    text: `您有一条新消息 ${XSS}`,
    cards: [{ kind: "message", id: "m1", title: "关于期末考试安排的通知", subtitle: "2026-11-27", fields: [], actions: [] }],
  });
  await w.notices.first().waitFor();
  assert.equal(await w.notices.first().getAttribute("role"), "status");
  assert.match(await w.notices.first().textContent(), /新通知.*您有一条新消息 <img src=x onerror=alert\(1\)>/);
  assert.equal(await w.notices.first().locator('.card[data-kind="message"] h3').textContent(), "关于期末考试安排的通知");

  socket.send({ type: "error", code: "text_too_long", message: "消息过长：最多 2000 个字符" });
  await w.errors.first().waitFor();
  assert.equal(await w.errors.first().getAttribute("role"), "alert");
  assert.equal(await w.errors.first().getAttribute("data-code"), "text_too_long");
  assert.match(await w.errors.first().textContent(), /消息过长/);

  await w.host.getByRole("button", { name: "关闭对话窗口" }).click();
  await w.panel.waitFor({ state: "hidden" });
  socket.send({ type: "notice", text: "您的意见反馈已有回复", cards: [] });
  socket.send({ type: "notice", text: "您有一个待办任务", cards: [] });
  const badge = w.host.locator(".badge");
  await eventually(async () => (await badge.textContent()) === "2", { message: "badge 2" });
  assert.match(await w.launcher.getAttribute("aria-label"), /2 条新消息/);
  await w.launcher.click();
  assert.equal(await badge.isVisible(), false, "opening the panel clears the badge");
});

test("after a disconnect the widget backs off, reconnects with its session and keeps pinging", async (t) => {
  const b = await launch();
  t.after(() => b.close());
  const { page } = b;
  await page.clock.install();
  const connections = await scriptSocket(page, (conn) => {
    conn.send(welcome(conn.url.searchParams.get("session") || "s_keep"));
    conn.onFrame = (f) => {
      if (f.type === "ping") conn.send({ type: "pong" });
      if (f.type === "message") conn.send(reply("r_" + f.id, { in_reply_to: f.id, text: "收到：" + f.text }));
    };
  });
  await page.addInitScript(() => localStorage.setItem("ehall-bot.token", "tok.en/+="));
  await page.goto(serverUrl() + "/", { waitUntil: "domcontentloaded" });
  const w = await openWidget(page);
  await w.welcome.waitFor();
  assert.equal(connections.length, 1);
  assert.equal(connections[0].url.searchParams.get("session"), null, "a first visit asks for a new session");
  assert.equal(connections[0].url.searchParams.get("token"), "tok.en/+=", "the stored login token is passed");
  await eventually(() => page.evaluate(() => localStorage.getItem("ehall-bot.session") === "s_keep"));

  await page.clock.fastForward(26000);
  await eventually(() => connections[0].received.some((f) => f.type === "ping"), { message: "a ping" });

  await connections[0].ws.close({ code: 1012, reason: "restart" });
  await eventually(async () => /重试/.test(await w.status.textContent()), { message: "status says it retries" });
  // Typed while offline: kept and sent once the connection is back.
  await w.input.fill("断线时发的消息");
  await w.input.press("Enter");
  await page.clock.fastForward(2000);
  await eventually(() => connections.length === 2, { message: "a second connection" });
  assert.equal(connections[1].url.searchParams.get("session"), "s_keep", "reconnects into the same session");
  await eventually(async () => (await w.replies.count()) === 1, { message: "the queued message's reply" });
  assert.equal(await w.replies.first().locator(".bubble").textContent(), "收到：断线时发的消息");
  assert.equal(await w.welcome.count(), 1, "the greeting is not repeated");
  await eventually(async () => (await w.status.textContent()).includes("在线"));
});

test("the login card's 登录 button is prominent and setToken reconnects as the user", async (t) => {
  const { page, w, connections } = await setUp(t, (conn) => {
    const token = conn.url.searchParams.get("token");
    conn.send(welcome(conn.url.searchParams.get("session") || "s_login", token ? { user: { id: "2020001", name: "张三", role: "学生" } } : {}));
    conn.onFrame = (f) => {
      if (f.type === "message")
        conn.send(
          reply("r_guide", {
            in_reply_to: f.id,
            text: "学生助学金申请",
            cards: [{ kind: "service", id: "s1", title: "学生助学金申请", fields: [], actions: [{ type: "action", label: "在线办理", action: "service.start", args: { service: "s1" } }] }],
          })
        );
      if (f.type === "action")
        conn.send(
          reply("r_login", {
            in_reply_to: f.id,
            text: "在线办理需要先登录统一身份认证。",
            cards: [{ kind: "login", id: "login", title: "请登录", fields: [], actions: [{ type: "open_url", label: "登录", url: serverUrl() + "/?cas" }] }],
          })
        );
    };
  });
  await openWidget(page);
  await w.welcome.waitFor();
  connections[0].send({ type: "noise", text: "unknown frames are ignored" });
  await page.evaluate(() => window.EhallBot.send("助学金"));
  await w.replies.first().getByRole("button", { name: "在线办理" }).click();
  const login = w.host.locator('.card.login a.btn.login');
  await login.waitFor();
  const style = await login.evaluate((a) => {
    const s = getComputedStyle(a);
    return { color: s.color, weight: s.fontWeight, size: parseFloat(s.fontSize) };
  });
  assert.equal(style.color, "rgb(255, 255, 255)");
  assert.ok(style.size >= 16 && Number(style.weight) >= 600, JSON.stringify(style));

  await page.evaluate(() => window.EhallBot.setToken("signed-token"));
  await eventually(() => connections.length === 2, { message: "a reconnect with the token" });
  assert.equal(connections[1].url.searchParams.get("token"), "signed-token");
  assert.equal(connections[1].url.searchParams.get("session"), "s_login");
  await eventually(async () => /张三/.test(await w.status.textContent()), { message: "status names the user" });
});

test("on a phone-sized screen the open panel fills the viewport", async (t) => {
  const { page, w } = await setUp(t, (conn) => conn.send(welcome("s_phone")), {
    viewport: { width: 360, height: 700 },
    isMobile: true,
  });
  await openWidget(page);
  await w.welcome.waitFor();
  const box = await w.panel.boundingBox();
  assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, 360, 700]);
  assert.equal(await w.host.getByRole("button", { name: "关闭对话窗口" }).isVisible(), true);
  assert.equal(await w.input.isVisible(), true);
});

test("a login page's token (postMessage or another tab) reconnects as the user; 退出登录 forgets it", async (t) => {
  const { page, context, w, connections } = await setUp(t, (conn) => {
    const token = conn.url.searchParams.get("token");
    const user = token === "good" ? { id: "2021001234", name: "张三", role: "学生" } : null;
    conn.send(welcome(conn.url.searchParams.get("session") || "s_auth", { user }));
    conn.onFrame = (f) => {
      if (f.type !== "message") return;
      conn.send(
        reply("r_" + f.id, {
          in_reply_to: f.id,
          text: "点击下方按钮即可退出登录。",
          cards: [{ kind: "login", id: "logout", title: "退出登录", fields: [], actions: [{ type: "open_url", label: "退出登录", url: serverUrl() + "/auth/logout?session=s_auth" }] }],
        })
      );
    };
  });
  await openWidget(page);
  await w.welcome.waitFor();
  assert.equal(connections.length, 1);
  const token = () => page.evaluate(() => localStorage.getItem("ehall-bot.token"));

  // The 登录成功 page posts the token to the window that opened it.
  await page.evaluate(() => window.postMessage({ type: "ehall-login", token: "good" }, location.origin));
  await eventually(() => connections.length === 2, { message: "a reconnect with the token" });
  assert.equal(connections[1].url.searchParams.get("token"), "good");
  assert.equal(connections[1].url.searchParams.get("session"), "s_auth");
  await eventually(async () => /张三/.test(await w.status.textContent()), { message: "status names the user" });
  assert.equal(await w.host.locator(".system").last().textContent(), "您已登录：张三（学生）");
  assert.equal(await token(), "good");
  // A message of the wrong type or from another origin is ignored.
  await page.evaluate(() => window.postMessage({ type: "other", token: "x" }, location.origin));

  // Another tab of the same origin: the same token changes nothing, a different one is tried and, refused, dropped.
  const other = await context.newPage();
  await other.goto(serverUrl() + "/healthz");
  await other.evaluate(() => localStorage.setItem("ehall-bot.token", "good"));
  await page.waitForTimeout(500);
  assert.equal(connections.length, 2, "no reconnect for the token already in use");
  await other.evaluate(() => localStorage.setItem("ehall-bot.token", "expired"));
  await eventually(() => connections.length === 3, { message: "a reconnect with the other tab's token" });
  assert.equal(connections[2].url.searchParams.get("token"), "expired");
  await eventually(async () => (await token()) === null, { message: "the refused token is dropped" });
  assert.equal(await w.host.locator(".system").last().textContent(), "您已退出登录，正以游客身份继续对话");
  await other.close();

  // 退出登录 from a card: POST /auth/logout with the token as a bearer, no new tab; the token, transcript and
  // session id are forgotten and the widget reconnects as a guest in a new session.
  await page.evaluate(() => window.postMessage({ type: "ehall-login", token: "good" }, location.origin));
  await eventually(async () => /张三/.test(await w.status.textContent()), { message: "logged in again" });
  const before = connections.length;
  await page.evaluate(() => window.EhallBot.send("退出登录"));
  const logout = w.replies.last().locator("a.btn.login", { hasText: "退出登录" });
  await logout.waitFor();
  const posted = page.waitForRequest((r) => /\/auth\/logout$/.test(new URL(r.url()).pathname) && r.method() === "POST");
  const pages = context.pages().length;
  await logout.click();
  const request = await posted;
  assert.equal(request.headers()["authorization"], "Bearer good");
  await eventually(() => connections.length === before + 1, { message: "a reconnect without the token" });
  assert.equal(await token(), null);
  assert.equal(connections[before].url.searchParams.get("token"), null);
  assert.equal(connections[before].url.searchParams.get("session"), null, "a new session after logout");
  assert.equal(context.pages().length, pages, "no tab was opened");
  await eventually(async () => !/张三/.test(await w.status.textContent()), { message: "status no longer names the user" });
  assert.equal(await w.host.locator(".row.user").count(), 0, "the transcript is cleared");
});

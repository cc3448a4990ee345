// 转人工 (docs/handoff.md) in the browser: a widget user asks for a person, an admin takes the conversation on
// /admin (人工服务) and answers live, then hands back to the bot; 结束人工 from the widget's banner; a take that
// someone else beat; and the widget's rendering of every handoff frame with scripted frames.
//
// The desk must be open, so this file starts its own server (the one of scripts/test-browser keeps the default
// hours) with `[handoff] days = [1..7], open = "00:00", close = "24:00"` in its config file, a temp SQLite file
// and a temp copy of data/, and a static admin token (EHALL_ADMIN_TOKENS) for a second desk person, D0099.
// Env: EHALL_BIN (default target/debug/ehall-bot), EHALL_HANDOFF_SEMANTIC (default false: lexical only, a fast start).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { spawn } = require("node:child_process");
const { serverUrl, launch, widget, openWidget, ask, loginAsAdmin, storedSession, eventually, screenshot, scriptSocket } = require("./helpers");

const REPO = path.resolve(__dirname, "..", "..");
const DESK_ID = "D0099"; // a second desk person, by static token; their name is their id
const DESK_TOKEN = "tok-handoff-desk-" + crypto.randomBytes(8).toString("hex");
const ADMIN_NAME = "管理员"; // A0001 of data/demo/accounts.toml, logged in on the page
const XSS = "<img src=x onerror=alert(1)>";

let server = null;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer() {
  const bin = process.env.EHALL_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(REPO, "target"), "debug", "ehall-bot");
  if (!fs.existsSync(bin)) throw new Error(`no server binary at ${bin} (cargo build -p server, or set EHALL_BIN)`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "ehall-handoff."));
  fs.cpSync(path.join(REPO, "data"), path.join(work, "data"), { recursive: true });
  fs.writeFileSync(
    path.join(work, "ehall.toml"),
    '[limits]\nquestion_burst = 0\nsession_turn_burst = 0\n\n[handoff]\ndays = [1,2,3,4,5,6,7]\nopen = "00:00"\nclose = "24:00"\n'
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(work, "server.log"), "w");
  const child = spawn(
    bin,
    [
      "serve",
      "--addr", `127.0.0.1:${port}`,
      "--database-url", `sqlite://${work}/ehall.sqlite`,
      "--data-dir", path.join(work, "data"),
      "--model-dir", REPO,
      "--vector-cache-dir", path.join(work, "vectors"),
      "--semantic", process.env.EHALL_HANDOFF_SEMANTIC || "false",
      "--config", path.join(work, "ehall.toml"),
    ],
    {
      cwd: work,
      stdio: ["ignore", log, log],
      env: {
        ...process.env,
        EHALL_TOKEN_SECRET: crypto.randomBytes(24).toString("hex"),
        EHALL_ADMIN_TOKENS: `${DESK_TOKEN}=${DESK_ID}`,
        EHALL_ADMINS: DESK_ID, // A0001 is an admin by its demo account
      },
    }
  );
  server = { child, work, url, exited: false };
  child.on("exit", () => (server.exited = true));
  const tail = () => fs.readFileSync(path.join(work, "server.log"), "utf8").split("\n").slice(-30).join("\n");
  const deadline = Date.now() + 300000;
  for (;;) {
    if (server.exited) throw new Error(`the server exited at start; its log:\n${tail()}`);
    const health = await fetch(url + "/healthz").catch(() => null);
    if (health && health.ok) {
      const ready = await fetch(url + "/readyz").catch(() => null);
      if (ready && (ready.status === 200 || ready.status === 404)) break;
    }
    if (Date.now() > deadline) throw new Error(`the server did not get ready in 300 s; its log:\n${tail()}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  process.env.EHALL_URL = url; // every helper talks to this server
}

test.before(startServer, { timeout: 320000 });

test.after(async () => {
  if (!server) return;
  if (!server.exited) {
    server.child.kill("SIGTERM");
    for (let i = 0; i < 40 && !server.exited; i++) await new Promise((r) => setTimeout(r, 250));
    if (!server.exited) server.child.kill("SIGKILL");
  }
  if (process.env.EHALL_KEEP_LOG) console.log(`handoff server log: ${server.work}/server.log`);
  else fs.rmSync(server.work, { recursive: true, force: true });
});

/** The admin API as the desk person D0099 (static token). */
async function desk(method, p, body) {
  const init = { method, headers: { Authorization: "Bearer " + DESK_TOKEN } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(serverUrl() + p, init);
  return { status: resp.status, body: await resp.json().catch(() => ({})) };
}

/** The open handoff of a widget session, from the queue. */
async function queued(session) {
  const r = await desk("GET", "/api/v1/admin/handoffs");
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return (r.body.items || []).find((h) => h.session === session);
}

async function openDemo(page) {
  await page.goto(serverUrl() + "/", { waitUntil: "domcontentloaded" });
  const w = await openWidget(page);
  await w.welcome.first().waitFor();
  return w;
}

/** Types a message that gets no bot bubble (relayed to the person) and waits until the widget has sent it. */
async function say(page, text) {
  const w = widget(page);
  const before = await w.host.locator(".row.user").count();
  await w.input.fill(text);
  await w.input.press("Enter");
  await w.host.locator(".row.user").nth(before).waitFor();
}

const textOf = async (locator) => ((await locator.textContent()) || "").trim();

test("a widget user is taken on /admin, answered live by the admin and handed back to the bot", async (t) => {
  const user = await launch();
  t.after(() => user.close());
  const w = await openDemo(user.page);
  await ask(user.page, "校园卡丢了怎么补办"); // the bot's dialogue before the handoff, shown to the admin
  const waiting = await ask(user.page, "转人工");
  assert.match(await textOf(waiting), /正在为您转接人工客服/);
  await w.handoffBar.waitFor({ state: "visible" });
  assert.match(await textOf(w.handoffBar), /正在等待人工客服/);
  const session = await storedSession(user.page);

  // The admin, in another browser: the badge and the title say someone waits before the tab is opened.
  const admin = await launch({ viewport: { width: 1366, height: 900 } });
  t.after(() => admin.close());
  const a = admin.page;
  await loginAsAdmin(a);
  await a.locator("#ho-badge").waitFor({ state: "visible", timeout: 10000 });
  assert.ok(Number(await a.locator("#ho-badge").textContent()) >= 1);
  assert.match(await a.title(), /^\(\d+\) /);
  await a.locator('#tabs button[data-tab="handoffs"]').click();
  const row = a.locator(`#ho-list tr[data-session="${session}"]`);
  await row.waitFor({ timeout: 10000 });
  const rowText = await textOf(row);
  assert.match(rowText, /游客/);
  assert.match(rowText, /等待/);
  assert.match(rowText, /等待中/);
  t.diagnostic(`queue row: ${rowText}`);
  await row.click();
  const detail = a.locator("#ho-detail");
  await eventually(async () => /校园卡丢了怎么补办/.test(await textOf(detail.locator(".ho-history"))), { message: "the bot dialogue in the detail" });

  await detail.locator('button[data-action="take"]').click();
  await detail.locator('.pill[data-status="active"]').waitFor();
  await w.handoffLines.filter({ hasText: "已接入" }).waitFor();
  await eventually(async () => (await textOf(w.handoffBar)).includes(`人工客服 ${ADMIN_NAME} 为您服务`), { message: "banner names the admin" });

  // Too long a reply: the server's 422 message is shown and nothing reaches the user.
  const box = detail.locator("textarea");
  await box.fill("长".repeat(2001));
  await box.press("Enter");
  await detail.locator(".msg.err").waitFor();
  t.diagnostic(`422 shown as: ${await textOf(detail.locator(".msg.err"))}`);
  assert.equal(await w.agents.count(), 0);

  const answer = `您好，补办校园卡请带身份证到一卡通中心 ${XSS}`;
  await box.fill(answer);
  await box.press("Enter");
  const bubble = w.agents.first();
  await bubble.waitFor({ timeout: 10000 });
  assert.equal(await textOf(bubble.locator(".agent-label")), `人工客服 · ${ADMIN_NAME}`);
  assert.ok((await textOf(bubble)).includes(answer), await textOf(bubble));
  assert.equal(await bubble.locator("img").count(), 0, "the admin's text stays text");
  await detail.locator(".ho-msg.agent").filter({ hasText: "一卡通中心" }).waitFor();

  // The user's words go to the admin; the bot says nothing, and the hint shows once.
  const repliesBefore = await w.replies.count();
  await say(user.page, "我的校园卡丢了，补办要带什么？");
  await detail.locator(".ho-msg.user").filter({ hasText: "补办要带什么" }).waitFor({ timeout: 10000 });
  await say(user.page, "还需要照片吗");
  await detail.locator(".ho-msg.user").filter({ hasText: "还需要照片吗" }).waitFor({ timeout: 10000 });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await w.replies.count(), repliesBefore, "no bot answer while a person answers");
  assert.equal(await w.host.locator(".relay-hint").count(), 1, "已转给人工客服 once");
  t.diagnostic(`widget: ${await screenshot(user.page, "handoff-widget-active.png")}`);
  t.diagnostic(`admin: ${await screenshot(a, "handoff-admin-active.png")}`);

  await detail.locator('button[data-action="release"]').click();
  await w.handoffLines.filter({ hasText: "已结束本次服务" }).waitFor({ timeout: 10000 });
  await w.handoffBar.waitFor({ state: "hidden" });
  await detail.locator('.pill[data-status="closed"]').waitFor();
  await eventually(async () => (await row.count()) === 0, { timeout: 8000, message: "the released one leaves the queue" });

  const back = await ask(user.page, "校园卡丢了怎么补办");
  assert.ok((await textOf(back)).length > 0, "the bot answers again");
  assert.equal(await w.handoffBar.isVisible(), false);

  // A reload replays the dialogue: the admin's bubble keeps its label, the banner stays off.
  await user.page.reload({ waitUntil: "domcontentloaded" });
  const again = await openWidget(user.page);
  await again.agents.first().waitFor();
  assert.equal(await textOf(again.agents.first().locator(".agent-label")), `人工客服 · ${ADMIN_NAME}`);
  assert.equal(await again.handoffBar.isVisible(), false);
  assert.deepEqual(user.pageErrors, []);
  assert.deepEqual(admin.pageErrors, []);
  assert.deepEqual(user.dialogs, []);
});

test("结束人工 in the widget's banner ends a served conversation and the desk can no longer write", async (t) => {
  const user = await launch();
  t.after(() => user.close());
  const w = await openDemo(user.page);
  await ask(user.page, "人工客服");
  await w.handoffBar.waitFor({ state: "visible" });
  const session = await storedSession(user.page);
  const h = await eventually(() => queued(session), { message: "the handoff in the queue" });
  assert.equal(h.status, "waiting");

  assert.equal((await desk("POST", `/api/v1/admin/handoffs/${h.id}/take`)).status, 200);
  await eventually(async () => (await textOf(w.handoffBar)).includes(`人工客服 ${DESK_ID} 为您服务`), { message: "banner names D0099" });
  assert.equal((await desk("POST", `/api/v1/admin/handoffs/${h.id}/messages`, { text: "请问还有什么问题？" })).status < 300, true);
  await w.agents.first().waitFor();
  assert.equal(await textOf(w.agents.first().locator(".agent-label")), `人工客服 · ${DESK_ID}`);

  const before = await w.replies.count();
  await w.handoffBar.getByRole("button", { name: "结束人工" }).click();
  const ended = w.replies.nth(before);
  await ended.waitFor();
  assert.match(await textOf(ended), /已结束人工服务/);
  assert.equal(await textOf(w.host.locator(".row.user .bubble").last()), "我：结束人工");
  await w.handoffBar.waitFor({ state: "hidden" });

  const closed = await desk("GET", "/api/v1/admin/handoffs?status=closed");
  const mine = (closed.body.items || []).find((x) => x.id === h.id);
  assert.ok(mine, "listed among the closed ones");
  assert.equal(mine.close_reason, "user_ended");
  assert.equal((await desk("POST", `/api/v1/admin/handoffs/${h.id}/messages`, { text: "还在吗？" })).status, 409);
  assert.deepEqual(user.pageErrors, []);
});

test("接入 a conversation someone else has just taken shows the conflict and who serves it", async (t) => {
  const user = await launch();
  t.after(() => user.close());
  const w = await openDemo(user.page);
  await ask(user.page, "转人工");
  const session = await storedSession(user.page);
  const h = await eventually(() => queued(session), { message: "the handoff in the queue" });

  const admin = await launch({ viewport: { width: 1366, height: 900 } });
  t.after(() => admin.close());
  const a = admin.page;
  await loginAsAdmin(a);
  await a.locator('#tabs button[data-tab="handoffs"]').click();
  await a.locator(`#ho-list tr[data-session="${session}"]`).click();
  const detail = a.locator("#ho-detail");
  const take = detail.locator('button[data-action="take"]');
  await take.waitFor();
  // Hold the page's message polling so that it cannot notice the other take before the click.
  await a.route(/\/messages\?after=/, (route) => route.abort());
  assert.equal((await desk("POST", `/api/v1/admin/handoffs/${h.id}/take`)).status, 200);
  await take.click();
  await detail.locator(".msg.err").waitFor();
  const shown = await textOf(detail.locator(".msg.err"));
  t.diagnostic(`409 shown as: ${shown}`);
  assert.ok(shown.length > 0);
  await detail.locator('.pill[data-status="active"]').waitFor();
  assert.match(await textOf(detail), new RegExp(`由 ${DESK_ID} 服务中`));
  assert.equal(await take.count(), 0);
  assert.equal(await detail.locator("textarea").isDisabled(), true, "only the taker replies");
  await a.unroute(/\/messages\?after=/);

  assert.ok((await desk("POST", `/api/v1/admin/handoffs/${h.id}/release`)).status < 300);
  await w.handoffLines.filter({ hasText: "已结束本次服务" }).waitFor({ timeout: 10000 });
  await w.handoffBar.waitFor({ state: "hidden" });
  assert.deepEqual(admin.pageErrors, []);
});

// ---- the widget alone, with scripted frames (no desk needed)

const reply = (inReplyTo, intent, text, handoff) => ({
  type: "reply",
  id: "r_" + crypto.randomBytes(4).toString("hex"),
  in_reply_to: inReplyTo,
  mode: "answer",
  intent,
  confidence: 1,
  text,
  cards: [],
  suggestions: [],
  ...(handoff ? { handoff } : {}),
});

test("the widget renders every handoff frame: agent bubbles, status lines, silent relays, the banner, a replay", async (t) => {
  const b = await launch();
  t.after(() => b.close());
  const { page } = b;
  let conn;
  const connections = await scriptSocket(page, (c) => {
    conn = c;
    c.send({ type: "welcome", session: "s_handoff", user: null, text: "您好", suggestions: [] });
    c.onFrame = (f) => {
      if (f.type !== "message") return;
      if (/转人工/.test(f.text)) {
        c.send(reply(f.id, "handoff.waiting", "正在为您转接人工客服，前面还有 0 人在等待……", { status: "waiting", position: 0 }));
      } else if (f.text === "结束人工") {
        c.send(reply(f.id, "handoff.ended", "已结束人工服务，机器人继续为您服务。", { status: "ended" }));
      } else {
        c.send(reply(f.id, "handoff.relayed", "已转给人工客服", { status: "active", agent: "张老师" }));
      }
    };
  });
  await page.goto(serverUrl() + "/", { waitUntil: "domcontentloaded" });
  const w = await openWidget(page);
  await w.welcome.waitFor();
  await ask(page, "转人工");
  await eventually(async () => (await textOf(w.handoffBar)).startsWith("正在等待人工客服"), { message: "waiting banner" });

  conn.send({ type: "notice", text: "人工客服 张老师 已接入，请直接描述您的问题。", cards: [], handoff: { status: "active", agent: "张老师" } });
  await w.handoffLines.first().waitFor();
  assert.equal(await textOf(w.handoffLines.first()), "人工客服 张老师 已接入，请直接描述您的问题。");
  assert.equal(await w.notices.count(), 0, "a status line, not a 新通知");
  await eventually(async () => (await textOf(w.handoffBar)).startsWith("人工客服 张老师 为您服务"), { message: "active banner" });

  conn.send({ type: "notice", text: `请把学号发给我 ${XSS}`, cards: [], from: { kind: "agent", name: "张老师" }, handoff: { status: "active", agent: "张老师" } });
  await w.agents.first().waitFor();
  assert.equal(await textOf(w.agents.first().locator(".agent-label")), "人工客服 · 张老师");
  assert.match(await textOf(w.agents.first()), /请把学号发给我 <img src=x onerror=alert\(1\)>/);
  assert.equal(await w.agents.first().locator("img").count(), 0);

  const replies = await w.replies.count();
  await say(page, "2021001234");
  await say(page, "是本科生");
  await eventually(() => connections[0].received.filter((f) => f.type === "message").length === 3, { message: "both sent" });
  await eventually(async () => (await w.host.locator(".relay-hint").count()) === 1, { message: "the hint" });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await w.replies.count(), replies, "relayed: no bot bubble");
  assert.equal(await w.host.locator(".relay-hint").count(), 1, "the hint once");
  assert.equal(await w.host.locator(".typing").isVisible(), false, "nothing awaited");
  await screenshot(page, "handoff-widget-scripted.png");

  // A reload replays the transcript: the same bubbles and status line, the banner back on.
  await page.reload({ waitUntil: "domcontentloaded" });
  const r = await openWidget(page);
  await r.agents.first().waitFor();
  assert.equal(await textOf(r.agents.first().locator(".agent-label")), "人工客服 · 张老师");
  assert.equal(await r.handoffLines.count(), 1);
  assert.equal(await r.host.locator(".relay-hint").count(), 1);
  assert.equal(await r.replies.count(), 1, "only the waiting reply is a bot bubble");
  await eventually(async () => (await textOf(r.handoffBar)).startsWith("人工客服 张老师 为您服务"), { message: "banner after reload" });

  // 结束人工 from the banner sends that text; the ended reply is an ordinary bot reply and the banner goes.
  await r.handoffBar.getByRole("button", { name: "结束人工" }).click();
  await eventually(() => connections[1] && connections[1].received.some((f) => f.type === "message" && f.text === "结束人工"), { message: "结束人工 sent" });
  await r.replies.nth(1).waitFor();
  assert.match(await textOf(r.replies.nth(1)), /已结束人工服务/);
  await r.handoffBar.waitFor({ state: "hidden" });

  // Nobody took it in time: a status line with the contact card, the banner off.
  await ask(page, "转人工");
  await r.handoffBar.waitFor({ state: "visible" });
  connections[1].send({
    type: "notice",
    text: "暂时没有客服接入，已为您提交工单 GD20261204001",
    cards: [{ kind: "contact", id: "c1", title: `网信办 ${XSS}`, fields: [{ label: "电话", value: "022-26675000" }], actions: [] }],
    handoff: { status: "timed_out" },
  });
  await r.handoffLines.nth(1).waitFor();
  assert.match(await textOf(r.handoffLines.nth(1)), /GD20261204001/);
  await r.host.locator('.row.handoff-cards .card[data-kind="contact"]').waitFor();
  assert.equal(await textOf(r.host.locator('.row.handoff-cards .card h3')), `网信办 ${XSS}`);
  await r.handoffBar.waitFor({ state: "hidden" });
  assert.deepEqual(b.pageErrors, []);
  assert.deepEqual(b.dialogs, []);
});

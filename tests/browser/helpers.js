// Shared helpers of the browser tests: launching Debian's Chromium and driving the chat widget.
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARTIFACTS = path.join(__dirname, "artifacts");
const REPLY_TIMEOUT_MS = Number(process.env.EHALL_REPLY_TIMEOUT_MS || 20000);

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/** The server under test; every test needs it. */
function serverUrl() {
  const url = process.env.EHALL_URL;
  if (!url) {
    throw new Error("EHALL_URL is not set: run scripts/test-browser, or start the server and export EHALL_URL");
  }
  return url.replace(/\/+$/, "");
}

/**
 * A script as the server serves it: the parts that `server/src/<rustFile>` joins with `concat!(include_str!(…))`,
 * read from `staticDir` (server/static) in the same order, so that a change to a part is tried without a rebuild.
 */
function joinedScript(staticDir, rustFile) {
  const rust = fs.readFileSync(path.join(staticDir, "..", "src", rustFile), "utf8");
  const parts = [...rust.matchAll(/include_str!\("\.\.\/\.\.\/static\/([\w-]+\/[\w.-]+\.js)"\)/g)].map((m) => m[1]);
  if (parts.length === 0) throw new Error(`no include_str! of a script part in server/src/${rustFile}`);
  return parts.map((part) => fs.readFileSync(path.join(staticDir, part), "utf8")).join("");
}

/**
 * Starts Chromium with a fresh user-data-dir and returns {context, page, dialogs, close}.
 * `dialogs` collects every alert/confirm/prompt the page opens (none should ever open).
 */
async function launch(options = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ehall-browser-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: options.viewport || { width: 1280, height: 860 },
    locale: "zh-CN",
    ...(options.isMobile ? { isMobile: true, hasTouch: true } : {}),
  });
  // EHALL_WIDGET_JS=path serves that one file as /widget.js instead of the server's (trying a change without a
  // rebuild); EHALL_STATIC_DIR=server/static serves /widget.js and /admin.js joined from that folder's parts
  // (widget/*.js, admin/*.js, as the server joins them) and the admin page from that folder.
  const staticDir = process.env.EHALL_STATIC_DIR;
  const widgetFile = process.env.EHALL_WIDGET_JS;
  const overrides = [
    [
      /\/widget\.js(\?|$)/,
      widgetFile ? () => fs.readFileSync(widgetFile, "utf8") : staticDir && (() => joinedScript(staticDir, "routes/assets.rs")),
      "application/javascript",
    ],
    [/\/admin\.js(\?|$)/, staticDir && (() => joinedScript(staticDir, "admin/page.rs")), "application/javascript"],
    [/^[a-z]+:\/\/[^/]+\/admin(\?|$)/, staticDir && (() => fs.readFileSync(path.join(staticDir, "admin.html"), "utf8")), "text/html"],
  ];
  for (const [pattern, body, type] of overrides) {
    if (!body) continue;
    await context.route(pattern, (route) => route.fulfill({ status: 200, contentType: `${type}; charset=utf-8`, body: body() }));
  }
  const page = context.pages()[0] || (await context.newPage());
  const dialogs = [];
  const pageErrors = [];
  const watch = (p) => {
    p.on("dialog", (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      d.dismiss().catch(() => {});
    });
    p.on("pageerror", (e) => pageErrors.push(String(e)));
  };
  watch(page);
  context.on("page", watch);
  return {
    context,
    page,
    dialogs,
    pageErrors,
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Locators of the widget; Playwright's CSS engine pierces its open shadow root. */
function widget(page) {
  const host = page.locator("#ehall-bot-widget");
  return {
    host,
    launcher: host.locator("button.launcher"),
    panel: host.locator("section.panel"),
    status: host.locator(".status"),
    log: host.locator(".log"),
    welcome: host.locator(".row.welcome .bubble"),
    replies: host.locator(".row.reply"),
    notices: host.locator(".row.notice"),
    errors: host.locator(".error"),
    chips: host.locator(".chips .chip"),
    agents: host.locator(".row.agent"), // a service-desk person's words (转人工)
    handoffLines: host.locator(".handoff-status"),
    handoffBar: host.locator(".handoff-bar"),
    input: host.locator("textarea"),
    send: host.locator("button.send"),
  };
}

async function openWidget(page) {
  const w = widget(page);
  await w.launcher.waitFor({ state: "visible" });
  if ((await w.launcher.getAttribute("aria-expanded")) !== "true") await w.launcher.click();
  await w.panel.waitFor({ state: "visible" });
  return w;
}

/** Waits until the widget shows more than `count` replies and returns the newest one. */
async function nextReply(page, count) {
  const w = widget(page);
  await w.replies.nth(count).waitFor({ state: "attached", timeout: REPLY_TIMEOUT_MS });
  return w.replies.nth(count);
}

/** Types a question, sends it with Enter and returns the reply to it. */
async function ask(page, text) {
  const w = widget(page);
  const before = await w.replies.count();
  await w.input.fill(text);
  await w.input.press("Enter");
  return nextReply(page, before);
}

/** Logs in on the admin page through the demo CAS as A0001 (名 管理员) and waits for the dashboard. */
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

async function storedSession(page) {
  return page.evaluate(() => localStorage.getItem("ehall-bot.session"));
}

/** Polls `fn` until it returns a truthy value. */
async function eventually(fn, { timeout = REPLY_TIMEOUT_MS, interval = 100, message = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out waiting for ${message} (last value: ${JSON.stringify(last)})`);
}

/** Answers every /ws connection with `script(conn, count)` (Playwright's routeWebSocket, so a test can script
 * protocol frames exactly); returns the list of connections so far. */
async function scriptSocket(page, script) {
  const connections = [];
  await page.routeWebSocket(/\/ws(\?|$)/, (ws) => {
    const conn = {
      ws,
      url: new URL(ws.url()),
      received: [],
      send: (frame) => ws.send(JSON.stringify(frame)),
      onFrame: null,
    };
    ws.onMessage((message) => {
      const frame = JSON.parse(String(message));
      conn.received.push(frame);
      if (conn.onFrame) conn.onFrame(frame);
    });
    connections.push(conn);
    script(conn, connections.length);
  });
  return connections;
}

async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file });
  return file;
}

module.exports = {
  CHROMIUM,
  REPLY_TIMEOUT_MS,
  serverUrl,
  launch,
  widget,
  openWidget,
  nextReply,
  ask,
  loginAsAdmin,
  storedSession,
  eventually,
  screenshot,
  scriptSocket,
};

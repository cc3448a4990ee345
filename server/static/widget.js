/*
 * ehall-bot web chat widget: a floating button and chat panel for the 网上办事服务大厅 chat bot.
 *
 * Embed with one tag (no build step, no dependencies):
 *   <script src="https://host/widget.js" data-server="https://host"
 *           data-title="办事大厅智能助手" data-position="right"></script>
 *
 * It speaks the chat protocol (docs/protocol.md) over `ws(s)://server/ws`. Everything the bot sends is
 * inserted with textContent / DOM properties, never as HTML, so knowledge-base text can't inject markup.
 * A small API is exposed as `window.EhallBot` (open, close, send, setToken, clear, sessionId).
 *
 * Login on another site (docs/widget.md): the 登录 button opens the bot's login in a popup with a one-time
 * nonce; the popup ends on the bot's own /auth/embed/done page, which hands the login over under that nonce and
 * closes itself, and the widget picks it up from /auth/embed/result. No setting is needed for this. For a site
 * that is not listed in the server's `auth.allowed_origins` (EHALL config `[auth] allowed_origins =
 * ["https://your.site"]`), the popup first asks the user to confirm which site gets the login; list your site
 * there to skip that question. If the hand-over fails, the widget says so in the chat and names this setting.
 */
(function () {
  "use strict";

  if (window.EhallBot) {
    return; // Included twice: the first copy owns the page.
  }

  var STORAGE = {
    session: "ehall-bot.session",
    token: "ehall-bot.token",
    transcript: "ehall-bot.transcript",
    open: "ehall-bot.open",
    user: "ehall-bot.user", // the id of the last user logged in here: another one's login clears the transcript
  };
  var MAX_TRANSCRIPT = 80;
  var PING_INTERVAL_MS = 25000;
  var BACKOFF_MIN_MS = 1000;
  var BACKOFF_MAX_MS = 30000;
  var MAX_TEXT_CHARS = 2000;
  var COUNTER_FROM_CHARS = 1800; // the character counter shows from here on
  var COMPACT_FIELDS = 4; // a card shows this many fields; 展开 shows the rest
  var EMBED_POLL_MS = 1000;
  var EMBED_WAIT_MS = 10 * 60 * 1000;
  var MAX_CARD_DEPTH = 3;
  var LONG_FIELD_CHARS = 90;

  var KIND_LABELS = {
    service: "服务事项",
    app: "应用",
    faq: "常见问题",
    news: "新闻通知",
    task: "办件",
    message: "消息通知",
    account: "个人数据",
    contact: "联系方式",
    feedback: "意见反馈",
    login: "登录",
    list: "列表",
  };

  // ---------------------------------------------------------------- configuration

  var script =
    document.currentScript ||
    (function () {
      var all = document.querySelectorAll("script[src]");
      for (var i = all.length - 1; i >= 0; i--) {
        if (/widget\.js(\?|#|$)/.test(all[i].getAttribute("src"))) return all[i];
      }
      return null;
    })();

  function scriptOrigin() {
    try {
      return new URL(script.src, location.href).origin;
    } catch (e) {
      return location.origin;
    }
  }

  var config = {
    server: ((script && script.getAttribute("data-server")) || scriptOrigin()).replace(/\/+$/, ""),
    title: (script && script.getAttribute("data-title")) || "办事大厅智能助手",
    position: script && script.getAttribute("data-position") === "left" ? "left" : "right",
  };

  // ---------------------------------------------------------------- storage (may be unavailable)

  function load(store, key) {
    try {
      return window[store].getItem(key);
    } catch (e) {
      return null;
    }
  }
  function save(store, key, value) {
    try {
      if (value === null || value === undefined) window[store].removeItem(key);
      else window[store].setItem(key, value);
    } catch (e) {
      /* storage full or blocked: the widget still works for this page view */
    }
  }

  function loadTranscript() {
    try {
      var parsed = JSON.parse(load("localStorage", STORAGE.transcript) || "[]");
      return Array.isArray(parsed) ? parsed : [];
    } catch (e) {
      return [];
    }
  }

  // ---------------------------------------------------------------- styles

  var CSS = [
    ":host { all: initial; }",
    "*, *::before, *::after { box-sizing: border-box; }",
    "[hidden] { display: none !important; }",
    ".root { position: fixed; bottom: 20px; z-index: 2147483000; font: 14px/1.55 -apple-system, BlinkMacSystemFont,",
    "  'PingFang SC', 'Hiragino Sans GB', 'Microsoft YaHei', 'Noto Sans CJK SC', 'WenQuanYi Micro Hei', sans-serif;",
    "  color: #1f2937; --accent: #1f5fae; --accent-dark: #174a88; --accent-soft: #e8f0fb; }",
    ".root.right { right: 20px; } .root.left { left: 20px; }",
    ".launcher { position: relative; width: 60px; height: 60px; border-radius: 50%; border: none; cursor: pointer;",
    "  background: var(--accent); color: #fff; box-shadow: 0 6px 18px rgba(15, 40, 80, .35);",
    "  display: flex; align-items: center; justify-content: center; transition: transform .15s; }",
    ".launcher:hover { transform: scale(1.06); background: var(--accent-dark); }",
    ".launcher:focus-visible, button:focus-visible, a:focus-visible, .log:focus-visible {",
    "  outline: 3px solid #f59e0b; outline-offset: 2px; }",
    ".launcher svg { width: 30px; height: 30px; fill: currentColor; }",
    ".badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; padding: 0 6px;",
    "  border-radius: 10px; background: #dc2626; color: #fff; font-size: 12px; line-height: 20px; text-align: center; }",
    ".panel { position: absolute; bottom: 76px; width: 380px; height: min(620px, calc(100vh - 120px));",
    "  background: #f5f7fa; border-radius: 14px; box-shadow: 0 12px 40px rgba(15, 40, 80, .28);",
    "  display: flex; flex-direction: column; overflow: hidden; }",
    ".root.right .panel { right: 0; } .root.left .panel { left: 0; }",
    ".header { background: var(--accent); color: #fff; padding: 12px 14px; display: flex; align-items: center; gap: 10px; }",
    ".header .titles { flex: 1; min-width: 0; }",
    ".header h2 { margin: 0; font-size: 16px; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }",
    ".status { font-size: 12px; opacity: .9; display: flex; align-items: center; gap: 5px; }",
    ".status::before { content: ''; width: 7px; height: 7px; border-radius: 50%; background: #fbbf24; }",
    ".status.online::before { background: #4ade80; } .status.offline::before { background: #f87171; }",
    ".icon-btn { background: transparent; border: none; color: #fff; cursor: pointer; width: 32px; height: 32px;",
    "  border-radius: 6px; font-size: 20px; line-height: 1; }",
    ".icon-btn:hover { background: rgba(255,255,255,.18); }",
    ".icon-btn svg { width: 18px; height: 18px; fill: currentColor; vertical-align: middle; }",
    ".log { flex: 1; overflow-y: auto; padding: 14px 12px 6px; display: flex; flex-direction: column; gap: 10px; }",
    ".row { display: flex; flex-direction: column; align-items: flex-start; max-width: 100%; }",
    ".row.user { align-items: flex-end; }",
    ".bubble { max-width: 86%; padding: 9px 12px; border-radius: 12px; white-space: pre-wrap; word-break: break-word;",
    "  background: #fff; border: 1px solid #e3e8ef; }",
    ".row.user .bubble { background: var(--accent); color: #fff; border-color: var(--accent); border-bottom-right-radius: 4px; }",
    ".row.user .bubble a { color: #fff; }",
    ".bubble a.tel, .card a.tel { color: var(--accent); text-decoration: underline; }",
    ".meta { font-size: 11px; color: #6b7280; margin: 2px 4px 0; display: flex; align-items: center; gap: 6px; }",
    ".row.user.unsent .bubble { background: #fff; color: #1f2937; border: 1px dashed #dc2626; }",
    ".unsent-mark { color: #b91c1c; font-weight: 600; }",
    ".retry { border: 1px solid #dc2626; color: #b91c1c; background: #fff; border-radius: 12px; font: inherit;",
    "  font-size: 12px; padding: 2px 10px; min-height: 28px; cursor: pointer; }",
    ".row.bot .bubble { border-bottom-left-radius: 4px; }",
    ".row.notice .bubble { background: #fff8e6; border: 1px solid #f5c451; border-left: 4px solid #f59e0b; }",
    ".notice-label { font-size: 12px; font-weight: 600; color: #b45309; display: block; margin-bottom: 2px; }",
    // 转人工 (docs/handoff.md): a person's words, the desk's status lines and the banner above the input.
    ".row.agent .bubble { background: #ecfdf5; border: 1px solid #a7f3d0; border-left: 4px solid #059669;",
    "  border-bottom-left-radius: 4px; }",
    ".agent-label { font-size: 12px; font-weight: 600; color: #047857; display: block; margin-bottom: 2px; }",
    ".relay-hint { color: #047857; }",
    ".system.handoff-status { text-align: center; max-width: 92%; white-space: pre-wrap; }",
    ".handoff-bar { display: flex; align-items: center; gap: 8px; padding: 5px 12px; font-size: 13px;",
    "  background: #ecfdf5; color: #065f46; border-top: 1px solid #a7f3d0; }",
    ".handoff-bar span { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }",
    ".handoff-bar button { border: 1px solid #059669; color: #047857; background: #fff; border-radius: 12px;",
    "  font: inherit; font-size: 12px; padding: 2px 10px; min-height: 28px; cursor: pointer; }",
    ".error { font-size: 12px; color: #b91c1c; background: #fef2f2; border: 1px solid #fecaca; border-radius: 6px;",
    "  padding: 3px 8px; align-self: center; }",
    ".system { font-size: 12px; color: #475569; background: #e2e8f0; border-radius: 10px; padding: 2px 10px;",
    "  align-self: center; }",
    ".cards { display: flex; flex-direction: column; gap: 8px; width: 92%; margin-top: 6px; }",
    ".card { background: #fff; border: 1px solid #dbe3ee; border-radius: 10px; padding: 10px 12px; min-width: 0; }",
    ".card .fields-more { border: none; background: none; color: var(--accent); padding: 4px 0 0; font: inherit;",
    "  font-size: 13px; cursor: pointer; min-height: 28px; }",
    ".card.login { border: 2px solid var(--accent); background: var(--accent-soft); }",
    ".card.login h3, .card.login .body { text-align: center; }",
    ".card .kind { display: inline-block; font-size: 11px; color: var(--accent); background: var(--accent-soft);",
    "  border-radius: 4px; padding: 0 6px; margin-bottom: 4px; }",
    ".card h3 { margin: 0 0 2px; font-size: 15px; font-weight: 600; color: #111827; word-break: break-word; }",
    ".card .subtitle { font-size: 12px; color: #6b7280; margin: 0 0 4px; }",
    ".card .body { margin: 4px 0; white-space: pre-wrap; word-break: break-word; }",
    ".card dl { margin: 6px 0 0; display: grid; grid-template-columns: fit-content(45%) 1fr; gap: 3px 10px; font-size: 13px; }",
    ".card dt { color: #6b7280; } .card dd { margin: 0; white-space: pre-wrap; word-break: break-word; }",
    ".card dd .value { display: block; }",
    ".card dd .value.clamped { display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 3; overflow: hidden; }",
    ".card dd .more { border: none; background: none; color: var(--accent); padding: 0; font: inherit; font-size: 12px;",
    "  cursor: pointer; }",
    ".card .items { display: flex; flex-direction: column; gap: 6px; margin-top: 6px; }",
    ".card .items .card { border-style: dashed; padding: 7px 10px; }",
    ".actions { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }",
    ".btn { display: inline-block; border: 1px solid var(--accent); color: var(--accent); background: #fff;",
    "  border-radius: 6px; padding: 4px 12px; font: inherit; font-size: 13px; cursor: pointer; text-decoration: none; }",
    ".btn:hover { background: var(--accent-soft); }",
    ".btn:disabled { opacity: .5; cursor: default; background: #fff; }",
    ".btn.chosen:disabled { opacity: 1; background: var(--accent-soft); }",
    ".btn.primary { background: var(--accent); color: #fff; }",
    ".btn.primary:hover { background: var(--accent-dark); }",
    ".btn.login { font-size: 16px; padding: 8px 34px; font-weight: 600; }",
    ".card.login .actions { justify-content: center; }",
    ".rating { display: flex; gap: 4px; margin-top: 4px; }",
    ".rate { border: 1px solid #d1d9e3; background: #fff; color: #4b5563; border-radius: 16px; cursor: pointer;",
    "  width: 36px; height: 32px; padding: 0; display: inline-flex; align-items: center; justify-content: center; }",
    ".rate svg { width: 18px; height: 18px; fill: currentColor; }",
    ".rate:hover { background: #eef2f7; color: #111827; }",
    ".rate[aria-pressed='true'] { background: var(--accent-soft); border-color: var(--accent); color: var(--accent); }",
    ".chips { display: flex; flex-wrap: wrap; gap: 6px; padding: 2px 0 4px; }",
    ".chip { border: 1px solid var(--accent); background: #fff; color: var(--accent); border-radius: 16px;",
    "  padding: 4px 12px; font: inherit; font-size: 13px; cursor: pointer; }",
    ".chip:hover { background: var(--accent); color: #fff; }",
    ".typing { font-size: 12px; color: #6b7280; padding: 0 14px 4px; }",
    ".typing.queued { color: #b45309; }",
    ".counter { font-size: 12px; color: #6b7280; padding: 0 12px 4px; text-align: right; background: #fff; }",
    ".counter.over { color: #b91c1c; font-weight: 600; }",
    ".composer { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e3e8ef; background: #fff; }",
    ".composer textarea { flex: 1; resize: none; border: 1px solid #cfd8e3; border-radius: 8px; padding: 8px 10px;",
    "  font: inherit; font-size: 16px; height: 42px; max-height: 110px; color: #111827; outline: none; }",
    ".composer textarea:focus { border-color: var(--accent); box-shadow: 0 0 0 3px rgba(31, 95, 174, .2); }",
    ".composer .send { border: none; background: var(--accent); color: #fff; border-radius: 8px; padding: 0 16px;",
    "  font: inherit; cursor: pointer; }",
    ".composer .send:hover { background: var(--accent-dark); }",
    ".sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }",
    "@media (max-width: 480px) {",
    "  .root { bottom: 14px; } .root.right { right: 14px; } .root.left { left: 14px; }",
    "  .root.open .launcher { display: none; }",
    "  .panel { position: fixed; inset: 0; width: 100vw; height: 100%; border-radius: 0; bottom: 0; }",
    "  .bubble { max-width: 92%; } .cards { width: 100%; }",
    "}",
  ].join("\n");

  var CHAT_ICON =
    "M12 3C6.5 3 2 6.9 2 11.7c0 2.6 1.3 4.9 3.4 6.5L4.6 22l4.3-2.3c1 .3 2 .4 3.1.4 5.5 0 10-3.9 10-8.7S17.5 3 12 3z" +
    "M7.5 13a1.3 1.3 0 1 1 0-2.6 1.3 1.3 0 0 1 0 2.6zm4.5 0a1.3 1.3 0 1 1 0-2.6 1.3 1.3 0 0 1 0 2.6zm4.5 0" +
    "a1.3 1.3 0 1 1 0-2.6 1.3 1.3 0 0 1 0 2.6z";

  // Material-style outlines, drawn as inline SVG so that they show without an emoji font.
  var THUMB_UP_ICON =
    "M2 21h4V9H2v12zm20-11c0-1.1-.9-2-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 7.9 6 8.4 6 9v10" +
    "c0 1.1.9 2 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z";
  var THUMB_DOWN_ICON =
    "M15 3H6c-.8 0-1.5.5-1.8 1.2l-3 7.1c-.1.2-.2.5-.2.7v2c0 1.1.9 2 2 2h6.3l-1 4.6v.3c0 .4.2.8.4 1.1l1.1 1" +
    " 6.6-6.6c.4-.4.6-.9.6-1.4V5c0-1.1-.9-2-2-2zm4 0v12h4V3h-4z";
  var TRASH_ICON = "M6 19c0 1.1.9 2 2 2h8c1.1 0 2-.9 2-2V7H6v12zM19 4h-3.5l-1-1h-5l-1 1H5v2h14V4z";

  // ---------------------------------------------------------------- DOM helpers

  function icon(pathData) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", pathData);
    svg.appendChild(path);
    return svg;
  }

  // Chinese mobile numbers, landlines with an area code (022-26675xxx), and 400/800 hotlines.
  var PHONE_RE = /(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)|0\d{2,3}[- ]?\d{7,8}(?!\d)|[48]00[- ]?\d{3}[- ]?\d{4}(?!\d)/g;
  // ISO 8601 instants with a zone (2026-12-03T07:53:34Z, …+00:00): shown in the reader's local time.
  var INSTANT_RE = /\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}|\s?UTC)(?![\w:])/g;

  function pad2(n) {
    return (n < 10 ? "0" : "") + n;
  }

  /** A local date and time, e.g. 2026-12-03 15:53. */
  function localDateTime(date) {
    return (
      date.getFullYear() + "-" + pad2(date.getMonth() + 1) + "-" + pad2(date.getDate()) + " " +
      pad2(date.getHours()) + ":" + pad2(date.getMinutes())
    );
  }

  /** Rewrites zoned ISO timestamps in a text into local time; anything unparsable stays as it was. */
  function localizeInstants(text) {
    return text.replace(INSTANT_RE, function (raw) {
      var iso = raw.replace(" UTC", "Z").replace("UTC", "Z").replace(" ", "T");
      var date = new Date(iso);
      return isNaN(date.getTime()) ? raw : localDateTime(date);
    });
  }

  /** Appends `text` to `parent` as text nodes, with phone numbers as tap-to-call links. */
  function appendRich(parent, text) {
    text = localizeInstants(asText(text));
    var last = 0;
    PHONE_RE.lastIndex = 0;
    var match;
    while ((match = PHONE_RE.exec(text))) {
      if (match.index > 0 && /[\d\w]/.test(text.charAt(match.index - 1))) continue; // part of a longer number
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      var link = el("a", "tel", match[0]);
      link.href = "tel:" + match[0].replace(/[^\d+]/g, "");
      parent.appendChild(link);
      last = match.index + match[0].length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
    return parent;
  }

  /** An element holding bot text: phone numbers callable, instants in local time, never markup. */
  function richEl(tag, className, text) {
    return appendRich(el(tag, className), text);
  }

  /** Creates an element; `text` is always set through textContent. */
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null && text !== "") node.textContent = String(text);
    return node;
  }

  function asText(value) {
    return typeof value === "string" ? value : value === undefined || value === null ? "" : String(value);
  }

  function serverOrigin() {
    try {
      return new URL(config.server + "/", location.href).origin;
    } catch (e) {
      return location.origin;
    }
  }

  function isServerUrl(href) {
    try {
      return new URL(href).origin === serverOrigin();
    } catch (e) {
      return false;
    }
  }

  /** Only http(s) links are opened; anything else (javascript:, data:) is refused. */
  function safeUrl(raw) {
    try {
      var url = new URL(asText(raw), config.server + "/");
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  var idCounter = 0;
  function newId(prefix) {
    idCounter += 1;
    return prefix + Date.now().toString(36) + idCounter.toString(36);
  }

  // ---------------------------------------------------------------- widget state

  var state = {
    socket: null,
    connected: false,
    everConnected: false,
    wantConnection: false,
    retryDelay: BACKOFF_MIN_MS,
    retryTimer: null,
    pingTimer: null,
    outbox: [], // frames typed while offline, sent on (re)connect
    pending: 0, // frames awaiting their reply
    unread: 0,
    session: load("localStorage", STORAGE.session),
    connectedToken: null, // the login token the current connection was opened with
    user: undefined, // who the server says we are: undefined before the first welcome, null for a guest
    transcript: loadTranscript(),
    isOpen: false,
    handoff: null, // {status: "waiting"|"active", agent} while a person is (to be) answering; null otherwise
    relayHinted: false, // the 已转给人工客服 hint is shown once per handoff
  };

  var ui = {};

  function build() {
    var host = document.createElement("div");
    host.id = "ehall-bot-widget";
    host.setAttribute("data-ehall-bot", "");
    var shadow = host.attachShadow({ mode: "open" });

    var style = document.createElement("style");
    style.textContent = CSS;
    shadow.appendChild(style);

    var root = el("div", "root " + config.position);
    shadow.appendChild(root);

    var panel = el("section", "panel");
    panel.id = "ehall-bot-panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", config.title);

    var header = el("div", "header");
    var titles = el("div", "titles");
    var h2 = el("h2", "", config.title);
    var status = el("div", "status", "未连接");
    status.setAttribute("aria-live", "polite");
    titles.appendChild(h2);
    titles.appendChild(status);
    var clear = el("button", "icon-btn clear");
    clear.type = "button";
    clear.appendChild(icon(TRASH_ICON));
    clear.setAttribute("aria-label", "清除记录");
    clear.title = "清除本机的对话记录";
    var close = el("button", "icon-btn close", "×");
    close.type = "button";
    close.setAttribute("aria-label", "关闭对话窗口");
    close.title = "关闭";
    header.appendChild(titles);
    header.appendChild(clear);
    header.appendChild(close);

    var log = el("div", "log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-relevant", "additions");
    log.setAttribute("aria-label", "对话记录");
    log.tabIndex = 0;

    var typing = el("div", "typing", "助手正在回复…");
    typing.hidden = true;

    var composer = el("form", "composer");
    var label = el("label", "sr-only", "输入您的问题");
    label.setAttribute("for", "ehall-bot-input");
    var input = el("textarea");
    input.id = "ehall-bot-input";
    input.rows = 1;
    // No maxLength: a pasted text too long is kept whole and the counter says by how much.
    input.setAttribute("aria-describedby", "ehall-bot-counter");
    input.placeholder = "输入问题，如：助学金怎么申请";
    input.setAttribute("enterkeyhint", "send");
    var send = el("button", "send", "发送");
    send.type = "submit";
    send.setAttribute("aria-label", "发送消息");
    var counter = el("div", "counter");
    counter.id = "ehall-bot-counter";
    counter.hidden = true;
    counter.setAttribute("aria-live", "polite");
    composer.appendChild(label);
    composer.appendChild(input);
    composer.appendChild(send);

    var handoffBar = el("div", "handoff-bar");
    handoffBar.hidden = true;
    handoffBar.setAttribute("role", "status");
    var handoffText = el("span");
    var handoffEnd = el("button", "end-handoff", "结束人工");
    handoffEnd.type = "button";
    handoffEnd.addEventListener("click", function () {
      sendMessage("结束人工");
    });
    handoffBar.appendChild(handoffText);
    handoffBar.appendChild(handoffEnd);

    panel.appendChild(header);
    panel.appendChild(log);
    panel.appendChild(typing);
    panel.appendChild(counter);
    panel.appendChild(handoffBar);
    panel.appendChild(composer);

    var launcher = el("button", "launcher");
    launcher.type = "button";
    launcher.setAttribute("aria-label", "打开" + config.title);
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", "ehall-bot-panel");
    launcher.title = config.title;
    var svgNs = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(svgNs, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(svgNs, "path");
    path.setAttribute("d", CHAT_ICON);
    svg.appendChild(path);
    launcher.appendChild(svg);
    var badge = el("span", "badge");
    badge.hidden = true;
    badge.setAttribute("aria-hidden", "true");
    launcher.appendChild(badge);

    root.appendChild(panel);
    root.appendChild(launcher);

    launcher.addEventListener("click", function () {
      if (state.isOpen) closePanel();
      else openPanel(false);
    });
    close.addEventListener("click", closePanel);
    clear.addEventListener("click", function () {
      clearConversation("对话记录已清除");
    });
    input.addEventListener("input", renderCounter);
    panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape") closePanel();
    });
    composer.addEventListener("submit", function (e) {
      e.preventDefault();
      submitInput();
    });
    input.addEventListener("keydown", function (e) {
      // Enter sends; Shift+Enter adds a line; Enter that confirms a Chinese IME candidate does neither.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submitInput();
      }
    });

    ui = {
      host: host,
      root: root,
      panel: panel,
      log: log,
      status: status,
      typing: typing,
      counter: counter,
      input: input,
      launcher: launcher,
      badge: badge,
      handoffBar: handoffBar,
      handoffText: handoffText,
    };
    document.body.appendChild(host);
  }

  // ---------------------------------------------------------------- panel

  /** Opens the panel; `restoring` (after a page load) leaves the page's keyboard focus where it is. */
  function openPanel(restoring) {
    state.isOpen = true;
    ui.panel.hidden = false;
    ui.root.classList.add("open");
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.launcher.setAttribute("aria-label", "收起" + config.title);
    save("sessionStorage", STORAGE.open, "1");
    state.unread = 0;
    renderBadge();
    ensureConnected();
    scrollToEnd();
    if (restoring !== true) ui.input.focus();
  }

  function closePanel() {
    state.isOpen = false;
    ui.panel.hidden = true;
    ui.root.classList.remove("open");
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.setAttribute("aria-label", "打开" + config.title);
    save("sessionStorage", STORAGE.open, null);
    ui.launcher.focus();
  }

  function renderBadge() {
    ui.badge.hidden = state.unread === 0;
    ui.badge.textContent = state.unread > 99 ? "99+" : String(state.unread);
    ui.launcher.setAttribute(
      "aria-label",
      (state.isOpen ? "收起" : "打开") + config.title + (state.unread ? "（" + state.unread + " 条新消息）" : "")
    );
  }

  function scrollToEnd() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function setStatus(kind, text) {
    ui.status.className = "status " + kind;
    ui.status.textContent = text;
  }

  /** The typing line: while a reply is awaited, and (saying so) while a message waits for the network. */
  function renderTyping() {
    var queued = state.outbox.some(function (f) {
      return f.type === "message" || f.type === "action";
    });
    ui.typing.hidden = state.pending <= 0 && !queued;
    ui.typing.classList.toggle("queued", queued);
    ui.typing.textContent = queued ? "网络未连接，消息将在恢复后自动发送…" : "助手正在回复…";
  }

  /** The character counter, shown near and over the limit; over it, sending is refused (nothing is cut). */
  function renderCounter() {
    var length = ui.input.value.length;
    var over = length > MAX_TEXT_CHARS;
    ui.counter.hidden = length < COUNTER_FROM_CHARS;
    ui.counter.classList.toggle("over", over);
    ui.counter.textContent = over
      ? length + " / " + MAX_TEXT_CHARS + " 字，超出 " + (length - MAX_TEXT_CHARS) + " 字，请删减后再发送"
      : length + " / " + MAX_TEXT_CHARS + " 字";
    ui.input.setAttribute("aria-invalid", over ? "true" : "false");
  }

  // ---------------------------------------------------------------- connection

  function socketUrl() {
    var base = config.server.replace(/^http(s?):/i, "ws$1:");
    if (!/^wss?:/i.test(base)) {
      base = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + base;
    }
    var params = [];
    if (state.session) params.push("session=" + encodeURIComponent(state.session));
    var token = load("localStorage", STORAGE.token);
    state.connectedToken = token || null;
    if (token) params.push("token=" + encodeURIComponent(token));
    return base + "/ws" + (params.length ? "?" + params.join("&") : "");
  }

  function ensureConnected() {
    state.wantConnection = true;
    if (state.socket || state.retryTimer) return;
    connect();
  }

  function connect() {
    state.retryTimer = null;
    setStatus("", state.everConnected ? "正在重新连接…" : "正在连接…");
    var socket;
    try {
      socket = new WebSocket(socketUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.socket = socket;

    socket.onopen = function () {
      state.connected = true;
      state.everConnected = true;
      setStatus("online", "在线");
      clearInterval(state.pingTimer);
      state.pingTimer = setInterval(function () {
        sendRaw({ type: "ping" });
      }, PING_INTERVAL_MS);
      var queued = state.outbox;
      state.outbox = [];
      queued.forEach(function (frame) {
        sendRaw(frame);
        markSent(frame.id);
      });
      renderTyping();
    };
    socket.onmessage = function (event) {
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return; // Not a protocol frame: ignore rather than break the dialogue.
      }
      if (frame && typeof frame === "object") handleFrame(frame);
    };
    socket.onclose = function () {
      if (state.socket !== socket) return;
      state.socket = null;
      state.connected = false;
      clearInterval(state.pingTimer);
      // Replies to frames sent on the dead socket will not come; frames still queued keep the typing line.
      state.pending = state.outbox.filter(function (f) {
        return f.type === "message" || f.type === "action";
      }).length;
      renderTyping();
      if (state.wantConnection) scheduleReconnect();
      else setStatus("offline", "已断开");
    };
    socket.onerror = function () {
      /* onclose follows and schedules the retry */
    };
  }

  function scheduleReconnect() {
    var delay = Math.min(state.retryDelay, BACKOFF_MAX_MS);
    // Jitter keeps many clients of a restarted server from reconnecting in lockstep.
    delay = Math.round(delay * (0.75 + Math.random() * 0.5));
    state.retryDelay = Math.min(state.retryDelay * 2, BACKOFF_MAX_MS);
    setStatus("offline", "连接已断开，" + Math.ceil(delay / 1000) + " 秒后重试");
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
    state.retryDelay = BACKOFF_MIN_MS;
    var old = state.socket;
    state.socket = null;
    state.connected = false;
    if (old) {
      try {
        old.close();
      } catch (e) {
        /* already closing */
      }
    }
    if (state.wantConnection) connect();
  }

  /** Back online, back on the tab, or 重试: connect at once instead of sitting out the backoff. */
  function retryNowIfWaiting() {
    if (state.retryTimer && !state.socket) {
      clearTimeout(state.retryTimer);
      state.retryDelay = BACKOFF_MIN_MS;
      connect();
    } else if (!state.socket && state.wantConnection) {
      connect();
    }
  }

  function sendRaw(frame) {
    if (state.socket && state.connected && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  /** Sends a frame that expects a reply, queueing it (and marking its row 未发送) while offline. */
  function sendExpectingReply(frame, row) {
    state.pending += 1;
    if (!sendRaw(frame)) {
      state.outbox.push(frame);
      if (row) markUnsent(row, frame.id);
      ensureConnected();
    }
    renderTyping();
  }

  function markUnsent(row, frameId) {
    row.classList.add("unsent");
    row.setAttribute("data-frame-id", frameId);
    var meta = row.querySelector(".meta") || row.appendChild(el("div", "meta"));
    var mark = el("span", "unsent-mark", "未发送");
    var retry = el("button", "retry", "重试");
    retry.type = "button";
    retry.setAttribute("aria-label", "重试发送");
    retry.addEventListener("click", function () {
      setStatus("", "正在重新连接…");
      retryNowIfWaiting();
    });
    meta.appendChild(mark);
    meta.appendChild(retry);
  }

  function markSent(frameId) {
    if (!frameId) return;
    var rows = ui.log.querySelectorAll(".row.user.unsent");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-frame-id") !== frameId) continue;
      rows[i].classList.remove("unsent");
      var marks = rows[i].querySelectorAll(".unsent-mark, .retry");
      for (var j = 0; j < marks.length; j++) marks[j].parentNode.removeChild(marks[j]);
    }
  }

  // ---------------------------------------------------------------- transcript

  function remember(entry) {
    entry.at = Date.now();
    state.transcript.push(entry);
    if (state.transcript.length > MAX_TRANSCRIPT) {
      state.transcript.splice(0, state.transcript.length - MAX_TRANSCRIPT);
    }
    persistTranscript();
  }

  function persistTranscript() {
    try {
      save("localStorage", STORAGE.transcript, JSON.stringify(state.transcript));
    } catch (e) {
      /* a frame that can't be serialised is simply not kept */
    }
  }

  function append(node) {
    var nearBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
    ui.log.appendChild(node);
    if (nearBottom || state.isOpen) scrollToEnd();
    return node;
  }

  /** Shows a new reply from its start: a long card should be read from its title, not from its end. */
  function reveal(row) {
    if (!row || !state.isOpen) return;
    var logBox = ui.log.getBoundingClientRect();
    var rowBox = row.getBoundingClientRect();
    if (rowBox.top < logBox.top) {
      ui.log.scrollTop += rowBox.top - logBox.top - 8;
    }
  }

  function countUnread() {
    if (!state.isOpen) {
      state.unread += 1;
      renderBadge();
    }
  }

  // ---------------------------------------------------------------- incoming frames

  function handleFrame(frame) {
    switch (frame.type) {
      case "welcome":
        onWelcome(frame);
        break;
      case "reply":
        settleOne();
        remember({ t: "reply", frame: frame });
        var shown = renderReply(frame, null, Date.now());
        reveal(shown);
        if (shown) countUnread();
        break;
      case "notice":
        remember({ t: "notice", frame: frame });
        reveal(renderNotice(frame, Date.now()));
        countUnread();
        break;
      case "error":
        if (frame.in_reply_to || state.pending > 0) settleOne();
        renderError(frame);
        break;
      case "pong":
        break;
      default:
        break; // Unknown frame types are ignored, as the protocol asks.
    }
  }

  function settleOne() {
    state.pending = Math.max(0, state.pending - 1);
    renderTyping();
  }

  function onWelcome(frame) {
    // Backoff restarts only once the server has really taken us in, not on a socket it closes at once.
    state.retryDelay = BACKOFF_MIN_MS;
    var session = asText(frame.session);
    var sameDialogue = session && session === state.session && state.transcript.length > 0;
    var user0 = frame.user && frame.user.name ? frame.user : null;
    // Logging in may continue the dialogue under the session the login was issued for: it is still ours.
    if (user0 && state.user === null && state.transcript.length > 0) sameDialogue = true;
    if (session) {
      state.session = session;
      save("localStorage", STORAGE.session, session);
    }
    var user = frame.user && frame.user.name ? frame.user : null;
    if (user) {
      setStatus("online", "在线 · " + asText(user.name));
    } else if (load("localStorage", STORAGE.token)) {
      save("localStorage", STORAGE.token, null); // The server refused the token (expired or logged out).
      state.connectedToken = null;
    }
    var previous = state.user;
    state.user = user;
    var lastUser = load("localStorage", STORAGE.user);
    if (user && user.id) {
      if (lastUser && lastUser !== asText(user.id) && state.transcript.length > 0) {
        // Someone else logged in on this browser: the previous user's dialogue is not theirs to read.
        state.transcript = [];
        ui.log.textContent = "";
        persistTranscript();
        sameDialogue = false;
      }
      save("localStorage", STORAGE.user, asText(user.id));
    }
    if (previous !== undefined && (previous && previous.id) !== (user && user.id)) {
      renderSystem(
        user
          ? "您已登录：" + asText(user.name) + (user.role ? "（" + asText(user.role) + "）" : "")
          : "您已退出登录，正以游客身份继续对话"
      );
    }
    if (sameDialogue) return; // A reconnect into the same dialogue: the greeting is already on screen.
    trackHandoff(null); // a new dialogue has no person on it
    if (state.transcript.length > 0 && !state.cleared) {
      // The server started a new session (the old one expired): start a fresh transcript.
      state.transcript = [];
      ui.log.textContent = "";
      renderError({ message: "之前的会话已过期，已为您开始新的对话" });
    }
    state.cleared = false;
    remember({ t: "welcome", frame: frame });
    renderWelcome(frame);
  }

  // ---------------------------------------------------------------- rendering

  function botRow(extraClass) {
    var row = el("div", "row bot" + (extraClass ? " " + extraClass : ""));
    row.appendChild(el("span", "sr-only", "助手："));
    return row;
  }

  /** A small time line under a message: HH:MM today, the date too for an older one. */
  function renderTime(row, at) {
    if (typeof at !== "number" || !isFinite(at)) return;
    var date = new Date(at);
    var time = el("time", "", isSameDay(date, new Date()) ? pad2(date.getHours()) + ":" + pad2(date.getMinutes()) : localDateTime(date));
    time.setAttribute("datetime", date.toISOString());
    var meta = el("div", "meta");
    meta.appendChild(time);
    row.appendChild(meta);
  }

  function isSameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  function renderUser(text, at) {
    retireChoices();
    var row = el("div", "row user");
    var sr = el("span", "sr-only", "我：");
    var bubble = el("div", "bubble", text);
    bubble.insertBefore(sr, bubble.firstChild);
    row.appendChild(bubble);
    renderTime(row, at);
    append(row);
    return row;
  }

  /** Once the user has said something after a clarify, its choices are history: they can't be pressed again. */
  function retireChoices() {
    var buttons = ui.log.querySelectorAll('.row.reply[data-mode="clarify"] button.postback:not(:disabled)');
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
  }

  function renderWelcome(frame) {
    var row = botRow("welcome");
    row.appendChild(richEl("div", "bubble", asText(frame.text) || "您好，我是" + config.title + "，请问有什么可以帮您？"));
    append(row);
    renderSuggestions(frame.suggestions);
  }

  function renderReply(frame, rated, at) {
    trackHandoff(frame.handoff);
    if (asText(frame.intent) === "handoff.relayed") return renderRelayHint();
    var row = botRow("reply");
    row.setAttribute("data-reply-id", asText(frame.id));
    row.setAttribute("data-mode", asText(frame.mode));
    var text = bubbleText(asText(frame.text), frame.cards);
    if (text) row.appendChild(richEl("div", "bubble", text));
    var cards = renderCards(frame.cards);
    if (cards) row.appendChild(cards);
    if (frame.id) row.appendChild(renderRating(asText(frame.id), rated));
    renderTime(row, at);
    append(row);
    renderSuggestions(frame.suggestions);
    return row;
  }

  /**
   * The text bubble of a reply, without what the first card shows anyway: the server's text is complete for
   * channels without cards (WeCom), so lines repeating the card's title, body or a field are dropped here.
   */
  function bubbleText(text, cards) {
    var card = Array.isArray(cards) && cards[0] && typeof cards[0] === "object" ? cards[0] : null;
    if (!text || !card) return text;
    var shown = [asText(card.title), asText(card.subtitle), asText(card.body)];
    (Array.isArray(card.fields) ? card.fields : []).forEach(function (f) {
      if (f) shown.push(asText(f.value), asText(f.label) + "：" + asText(f.value), asText(f.label) + ":" + asText(f.value));
    });
    var normalize = function (line) {
      return line.replace(/^[\s【\[·•\-*]+|[\s】\]。]+$/g, "").replace(/\s+/g, " ");
    };
    var known = {};
    shown.forEach(function (x) {
      if (x) known[normalize(x)] = true;
    });
    // "为您找到「…」的办事指南：<summary>" with the summary as the card's body keeps only its lead-in.
    var body = asText(card.body).trim();
    if (body.length >= 12 && text.indexOf(body) >= 0) {
      text = text.replace(body, "").replace(/[：:，,\s]+$/, "");
    }
    var fieldList = Array.isArray(card.fields) ? card.fields : [];
    var kept = text.split("\n").filter(function (line) {
      var n = normalize(line);
      if (!n || known[n]) return false;
      // "「…」的咨询电话：022-…" when the card holds 咨询电话 = "022-…": the card says it.
      return !fieldList.some(function (f) {
        var value = f ? normalize(asText(f.value)) : "";
        return value.length >= 2 && n.slice(-value.length) === value && n.indexOf(asText(f.label)) >= 0;
      });
    });
    return kept.join("\n").trim();
  }

  // ---------------------------------------------------------------- handoff to a person (docs/handoff.md)

  /** Follows the `handoff` of replies and notices: waiting/active shows the banner; a reply without one ends it. */
  function trackHandoff(view) {
    var status = view && typeof view === "object" ? asText(view.status) : "";
    var open = status === "waiting" || status === "active";
    if (open && !state.handoff) state.relayHinted = false;
    var agent = open ? asText(view.agent) || (state.handoff && state.handoff.agent) || "" : "";
    state.handoff = open ? { status: status, agent: agent } : null;
    ui.handoffBar.hidden = !open;
    ui.input.placeholder = open ? "输入消息，将转给人工客服" : "输入问题，如：助学金怎么申请";
    ui.handoffText.textContent = !open
      ? ""
      : status === "waiting"
        ? "正在等待人工客服…"
        : "人工客服" + (agent ? " " + agent + " " : "") + "为您服务";
  }

  /** A message relayed to the person gets no bot bubble: once per handoff, a small hint under the user's own. */
  function renderRelayHint() {
    var users = ui.log.querySelectorAll(".row.user");
    var row = users[users.length - 1];
    if (state.relayHinted || !row) return null;
    state.relayHinted = true;
    (row.querySelector(".meta") || row.appendChild(el("div", "meta"))).appendChild(el("span", "relay-hint", "已转给人工客服"));
    return null;
  }

  /** The desk's own word (taken, handed back, timed out): a centered status line, then its cards if any. */
  function renderHandoffStatus(frame) {
    var line = el("div", "system handoff-status");
    line.setAttribute("role", "status");
    append(appendRich(line, asText(frame.text)));
    var cards = renderCards(frame.cards);
    if (cards) append(botRow("handoff-cards")).appendChild(cards);
    return line;
  }

  /** A notice: a person's words (`from.kind == "agent"`), a handoff status line, or a 新通知. */
  function renderNotice(frame, at) {
    var from = frame.from && typeof frame.from === "object" ? frame.from : null;
    var handoff = frame.handoff && typeof frame.handoff === "object" ? frame.handoff : null;
    if (handoff) trackHandoff(handoff);
    if (handoff && !from) return renderHandoffStatus(frame);
    var agent = from && from.kind === "agent";
    var row = agent ? el("div", "row agent") : botRow("notice");
    row.setAttribute("role", "status");
    var bubble = el("div", "bubble");
    var label = agent ? "人工客服" + (asText(from.name) ? " · " + asText(from.name) : "") : "新通知";
    bubble.appendChild(el("span", agent ? "agent-label" : "notice-label", label));
    appendRich(bubble, asText(frame.text));
    row.appendChild(bubble);
    var cards = renderCards(frame.cards);
    if (cards) row.appendChild(cards);
    renderTime(row, at);
    append(row);
    return row;
  }

  /** A small neutral line about the conversation itself (logged in, logged out). */
  function renderSystem(text) {
    var node = el("div", "system", text);
    node.setAttribute("role", "status");
    append(node);
  }

  function renderError(frame) {
    var node = el("div", "error", "⚠ " + (asText(frame.message) || "出错了，请稍后再试"));
    node.setAttribute("role", "alert");
    if (frame.code) node.setAttribute("data-code", asText(frame.code));
    append(node);
  }

  function renderCards(cards) {
    if (!Array.isArray(cards) || cards.length === 0) return null;
    var box = el("div", "cards");
    cards.forEach(function (card) {
      if (card && typeof card === "object") box.appendChild(renderCard(card, 0));
    });
    return box;
  }

  function renderCard(card, depth) {
    var kind = asText(card.kind);
    var node = el("article", "card " + (KIND_LABELS[kind] ? kind : "other"));
    node.setAttribute("data-kind", kind);
    if (card.id) node.setAttribute("data-card-id", asText(card.id));
    if (depth === 0 && KIND_LABELS[kind]) node.appendChild(el("span", "kind", KIND_LABELS[kind]));
    var title = el(depth === 0 ? "h3" : "h4", "title", asText(card.title));
    if (depth > 0) title.style.cssText = "margin:0;font-size:14px;font-weight:600;";
    node.appendChild(title);
    if (card.subtitle) node.appendChild(richEl("p", "subtitle", asText(card.subtitle)));
    if (card.body) node.appendChild(renderClamped("div", "body", asText(card.body)));

    var fields = Array.isArray(card.fields)
      ? card.fields.filter(function (f) {
          return f && typeof f === "object";
        })
      : [];
    if (fields.length) {
      // Compact: the first fields (the server puts the key ones, or only the asked ones, first); 展开 for the rest.
      var dl = el("dl", "fields");
      var extra = [];
      fields.forEach(function (field, index) {
        var dt = el("dt", "", asText(field.label));
        var dd = renderFieldValue(asText(field.value));
        if (index >= COMPACT_FIELDS && fields.length > COMPACT_FIELDS + 1) {
          dt.hidden = dd.hidden = true;
          dt.className = dd.className = "extra";
          extra.push(dt, dd);
        }
        dl.appendChild(dt);
        dl.appendChild(dd);
      });
      node.appendChild(dl);
      if (extra.length) {
        var hiddenCount = extra.length / 2;
        var more = el("button", "fields-more", "展开其余 " + hiddenCount + " 项");
        more.type = "button";
        more.setAttribute("aria-expanded", "false");
        more.addEventListener("click", function () {
          var open = more.getAttribute("aria-expanded") !== "true";
          extra.forEach(function (n) {
            n.hidden = !open;
          });
          more.textContent = open ? "收起" : "展开其余 " + hiddenCount + " 项";
          more.setAttribute("aria-expanded", open ? "true" : "false");
        });
        node.appendChild(more);
      }
    }

    if (Array.isArray(card.items) && card.items.length && depth < MAX_CARD_DEPTH) {
      var items = el("div", "items");
      card.items.forEach(function (item) {
        if (item && typeof item === "object") items.appendChild(renderCard(item, depth + 1));
      });
      node.appendChild(items);
    }

    var actions = renderActions(card.actions, kind === "login", card);
    if (actions) node.appendChild(actions);
    return node;
  }

  /** A long text (a card's body) clamped to a few lines with a 展开 toggle. */
  function renderClamped(tag, className, value) {
    var box = el(tag, className);
    var dd = renderFieldValue(value);
    while (dd.firstChild) box.appendChild(dd.firstChild);
    return box;
  }

  /** A field's value; a long one (办理须知, say) is clamped to a few lines with a 展开 toggle. */
  function renderFieldValue(value) {
    var dd = el("dd");
    var text = richEl("span", "value", value);
    dd.appendChild(text);
    if (value.length > LONG_FIELD_CHARS || value.split("\n").length > 4) {
      text.classList.add("clamped");
      var toggle = el("button", "more", "展开");
      toggle.type = "button";
      toggle.setAttribute("aria-expanded", "false");
      toggle.addEventListener("click", function () {
        var open = text.classList.toggle("clamped") === false;
        toggle.textContent = open ? "收起" : "展开";
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
      });
      dd.appendChild(toggle);
    }
    return dd;
  }

  // Buttons whose label says nothing once echoed as the user's turn: the item's name is echoed instead.
  var GENERIC_CHOICES = { 就是这个: true, 是这个: true, 选这个: true, 查看: true, 详情: true, 查看详情: true };

  function renderActions(actions, isLogin, card) {
    if (!Array.isArray(actions) || actions.length === 0) return null;
    var row = el("div", "actions");
    var first = true;
    actions.forEach(function (action) {
      if (!action || typeof action !== "object") return;
      var label = asText(action.label);
      var button;
      if (action.type === "open_url") {
        var href = safeUrl(action.url);
        if (!href) return;
        // A real link: new tab, keyboard and screen-reader friendly, and not caught by popup blockers.
        button = el("a", "btn open-url", isLogin ? label || "登录" : label || "打开");
        button.href = href;
        button.target = "_blank";
        // Our own login page may post the token back to this window (see the "message" listener below).
        button.rel = isLogin && isServerUrl(href) ? "opener" : "noopener noreferrer";
        if (isLogin) button.className += " primary login";
        else if (first) button.className += " primary";
        button.setAttribute("aria-label", button.textContent + "（在新窗口打开）");
        var path = isServerUrl(href) ? new URL(href).pathname : "";
        if (path === "/auth/logout") {
          button.addEventListener("click", function (event) {
            event.preventDefault();
            logout();
          });
        } else if (path === "/auth/login") {
          button.addEventListener("click", function (event) {
            if (startLogin(href)) event.preventDefault(); // else the plain link opens the login as before
          });
        }
      } else if (action.type === "action" && action.action) {
        button = el("button", "btn postback", label || "确定");
        button.type = "button";
        if (first) button.className += " primary";
        button.addEventListener("click", function () {
          var echo = GENERIC_CHOICES[label] && card && card.title ? asText(card.title) : label;
          var reply = button.closest(".row.reply");
          if (reply && reply.getAttribute("data-mode") === "clarify") button.classList.add("chosen");
          postAction(echo, asText(action.action), action.args);
        });
      } else {
        return; // An action type this widget does not know.
      }
      first = false;
      row.appendChild(button);
    });
    return row.childNodes.length ? row : null;
  }

  // ---------------------------------------------------------------- login, logout, clearing

  function randomNonce() {
    var bytes = new Uint8Array(18);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += ("0" + bytes[i].toString(16)).slice(-2);
    return out;
  }

  /**
   * Opens the login in a popup that ends on the bot's /auth/embed/done page, then polls for the login handed
   * over under a one-time nonce: works on any embedding site (docs/widget.md). False when no popup could open.
   */
  function startLogin(href) {
    var nonce;
    try {
      nonce = randomNonce();
    } catch (e) {
      return false;
    }
    var url = new URL(href);
    url.searchParams.set("return", "/auth/embed/done?nonce=" + nonce + "&origin=" + encodeURIComponent(location.origin));
    var popup = window.open(url.href, "ehall-bot-login", "popup,width=520,height=680");
    if (!popup) {
      renderError({ message: "浏览器拦截了登录窗口，请允许本站弹出窗口后再点击“登录”" });
      return true;
    }
    stopLoginPoll();
    renderSystem("请在弹出的窗口中完成统一身份认证登录");
    var login = { nonce: nonce, popup: popup, started: Date.now(), closedPolls: 0, timer: null };
    state.login = login;
    var poll = function () {
      if (state.login !== login) return;
      fetch(config.server + "/auth/embed/result?nonce=" + nonce, { cache: "no-store", credentials: "omit" })
        .then(function (response) {
          if (response.status === 200) return response.json().then(finishLogin);
          if (response.status === 404 || response.status === 403) return loginFailed(response.status);
          return again();
        })
        .catch(again);
    };
    var again = function () {
      if (state.login !== login) return;
      if (state.user && state.user.name) return stopLoginPoll(); // logged in another way (postMessage, storage)
      var closed = false;
      try {
        closed = popup.closed;
      } catch (e) {
        /* unknown */
      }
      if (closed) login.closedPolls += 1;
      if (login.closedPolls > 3) {
        stopLoginPoll();
        renderError({ message: "登录窗口已关闭，尚未登录。如已在窗口中登录成功，请刷新本页或重新点击“登录”" });
        return;
      }
      if (Date.now() - login.started > EMBED_WAIT_MS) return stopLoginPoll();
      login.timer = setTimeout(poll, EMBED_POLL_MS);
    };
    var finishLogin = function (body) {
      stopLoginPoll();
      try {
        popup.close();
      } catch (e) {
        /* it closes itself */
      }
      if (body && typeof body.token === "string" && body.token) {
        save("localStorage", STORAGE.token, body.token);
        adoptStoredToken();
      }
    };
    var loginFailed = function (status) {
      stopLoginPoll();
      if (state.user && state.user.name) return;
      renderError({
        message:
          status === 403
            ? "登录结果属于另一个网站，未在本页面登录，请重新点击“登录”"
            : "本页面无法接收登录结果（服务器不支持嵌入登录）。请网站管理员在 ehall-bot 配置的 auth.allowed_origins 中加入 " +
              location.origin +
              "（见 docs/widget.md）",
      });
    };
    login.timer = setTimeout(poll, EMBED_POLL_MS);
    return true;
  }

  function stopLoginPoll() {
    if (state.login) clearTimeout(state.login.timer);
    state.login = null;
  }

  /**
   * 退出登录: `POST /auth/logout` with the token as a bearer (the server ends the session and clears its
   * dialogue), then this browser forgets the user's dialogue and starts afresh as a guest — also when the server
   * cannot be reached, so that nothing of it stays on a shared computer.
   */
  function logout() {
    var token = load("localStorage", STORAGE.token);
    var done = function () {
      clearConversation("您已退出登录，本机的对话记录已清除", true);
    };
    if (!token) return done();
    fetch(config.server + "/auth/logout", {
      method: "POST",
      headers: { Authorization: "Bearer " + token },
      credentials: "omit",
    }).then(done, done);
  }


  /**
   * Forgets the dialogue on this browser: transcript, session id and (on logout) the token; the next
   * connection starts a new session with a fresh greeting.
   */
  function clearConversation(message, forgetUser) {
    stopLoginPoll();
    if (forgetUser) {
      save("localStorage", STORAGE.token, null);
      save("localStorage", STORAGE.user, null);
    }
    state.transcript = [];
    state.session = null;
    state.outbox = [];
    state.pending = 0;
    state.cleared = true;
    state.user = undefined; // the next welcome is a new start, not a change of user to announce
    trackHandoff(null);
    save("localStorage", STORAGE.session, null);
    save("localStorage", STORAGE.transcript, null);
    ui.log.textContent = "";
    renderTyping();
    renderSystem(message);
    state.wantConnection = true;
    reconnectNow();
  }

  /** Reconnects when the stored login token is not the one the current connection was opened with. */
  function adoptStoredToken() {
    var token = load("localStorage", STORAGE.token) || null;
    if (token !== state.connectedToken && state.wantConnection) reconnectNow();
  }

  function renderRating(replyId, rated) {
    var box = el("div", "rating");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "这个回答有帮助吗？");
    var up = el("button", "rate up");
    up.appendChild(icon(THUMB_UP_ICON));
    up.type = "button";
    up.setAttribute("aria-label", "有帮助");
    up.title = "有帮助";
    var down = el("button", "rate down");
    down.appendChild(icon(THUMB_DOWN_ICON));
    down.type = "button";
    down.setAttribute("aria-label", "没有帮助");
    down.title = "没有帮助";
    function mark(helpful) {
      up.setAttribute("aria-pressed", helpful === true ? "true" : "false");
      down.setAttribute("aria-pressed", helpful === false ? "true" : "false");
    }
    mark(rated === true || rated === false ? rated : null);
    function choose(helpful) {
      mark(helpful);
      rememberRating(replyId, helpful);
      if (!sendRaw({ type: "rate", reply: replyId, helpful: helpful })) {
        state.outbox.push({ type: "rate", reply: replyId, helpful: helpful });
        ensureConnected();
      }
    }
    up.addEventListener("click", function () {
      choose(true);
    });
    down.addEventListener("click", function () {
      choose(false);
    });
    box.appendChild(up);
    box.appendChild(down);
    return box;
  }

  function rememberRating(replyId, helpful) {
    for (var i = state.transcript.length - 1; i >= 0; i--) {
      var entry = state.transcript[i];
      if (entry.t === "reply" && entry.frame && entry.frame.id === replyId) {
        entry.rated = helpful;
        persistTranscript();
        return;
      }
    }
  }

  function renderSuggestions(suggestions) {
    // Only the latest quick replies stay: older ones would answer a question no longer asked.
    var old = ui.log.querySelectorAll(".chips");
    for (var i = 0; i < old.length; i++) old[i].parentNode.removeChild(old[i]);
    if (!Array.isArray(suggestions) || suggestions.length === 0) return;
    var box = el("div", "chips");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "推荐问题");
    suggestions.forEach(function (s) {
      if (!s || typeof s !== "object") return;
      var label = asText(s.label || s.text);
      if (!label) return;
      var chip = el("button", "chip", label);
      chip.type = "button";
      chip.addEventListener("click", function () {
        if (s.action) postAction(label, asText(s.action), s.args);
        else sendMessage(asText(s.text || s.label));
      });
      box.appendChild(chip);
    });
    if (box.childNodes.length) append(box);
  }

  function renderTranscript() {
    state.transcript.forEach(function (entry) {
      if (entry.t === "user") renderUser(entry.text, entry.at);
      else if (entry.t === "welcome") renderWelcome(entry.frame);
      else if (entry.t === "reply") renderReply(entry.frame, entry.rated, entry.at);
      else if (entry.t === "notice") renderNotice(entry.frame, entry.at);
    });
  }

  // ---------------------------------------------------------------- outgoing

  function submitInput() {
    var text = ui.input.value.trim();
    if (!text) return;
    if (text.length > MAX_TEXT_CHARS) {
      // Too long: nothing is cut and nothing is sent; the counter says how much to remove.
      renderCounter();
      ui.counter.hidden = false;
      ui.input.focus();
      return;
    }
    ui.input.value = "";
    renderCounter();
    sendMessage(text);
  }

  function sendMessage(text) {
    text = asText(text).trim();
    if (!text) return;
    if (text.length > MAX_TEXT_CHARS) {
      renderError({ code: "text_too_long", message: "消息过长：最多 " + MAX_TEXT_CHARS + " 个字，未发送" });
      return;
    }
    remember({ t: "user", text: text });
    var row = renderUser(text, Date.now());
    sendExpectingReply({ type: "message", id: newId("m_"), text: text }, row);
  }

  function postAction(label, action, args) {
    var shown = label || action;
    remember({ t: "user", text: shown });
    var row = renderUser(shown, Date.now());
    sendExpectingReply({
      type: "action",
      id: newId("a_"),
      action: action,
      args: args && typeof args === "object" && !Array.isArray(args) ? args : {},
    }, row);
  }

  // ---------------------------------------------------------------- start

  function start() {
    build();
    renderTranscript();
    window.EhallBot = {
      open: function () {
        openPanel(false);
      },
      close: closePanel,
      send: function (text) {
        if (!state.isOpen) openPanel(false);
        sendMessage(text);
      },
      /** Stores a login token (or removes it with null) and reconnects so the bot knows the user. */
      setToken: function (token) {
        save("localStorage", STORAGE.token, token ? String(token) : null);
        if (state.wantConnection) reconnectNow();
        else ensureConnected();
      },
      sessionId: function () {
        return state.session;
      },
      /** Forgets this browser's dialogue (transcript and session id) and starts a new one. */
      clear: function () {
        clearConversation("对话记录已清除");
      },
      config: config,
    };
    // The 登录成功 page (opened from a login card) hands the token over: by postMessage from our server's origin,
    // or, when it shares this page's origin, through localStorage.
    window.addEventListener("message", function (event) {
      var data = event.data;
      if (event.origin !== serverOrigin() || !data || data.type !== "ehall-login") return;
      if (typeof data.token !== "string" || !data.token) return;
      save("localStorage", STORAGE.token, data.token);
      adoptStoredToken(); // The storage event of a same-origin login page may have done it already.
    });
    window.addEventListener("storage", function (event) {
      if (event.key === STORAGE.token) adoptStoredToken();
    });
    // Back online or back on the tab: don't sit out the rest of a long backoff.
    window.addEventListener("online", retryNowIfWaiting);
    window.addEventListener("offline", function () {
      if (state.socket) setStatus("offline", "网络已断开");
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState !== "visible") return;
      retryNowIfWaiting();
      adoptStoredToken(); // logged in or out in another tab while this one was hidden
    });
    if (load("sessionStorage", STORAGE.open) === "1") openPanel(true);
    else if (state.session || load("localStorage", STORAGE.token)) ensureConnected(); // keep notices flowing
  }

  // Claim the global name now so a second copy of the script, loaded before DOM ready, backs off.
  window.EhallBot = { pending: true };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();

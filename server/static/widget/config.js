// widget/config.js: the widget's header, constants, <script> settings and storage; opens the IIFE (main.js closes it).
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

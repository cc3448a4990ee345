// widget/main.js: what the user sends, window.EhallBot, the page's events and the start; closes the IIFE of config.js.
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

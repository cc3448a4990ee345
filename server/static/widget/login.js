// widget/login.js: login in a popup handed over by nonce (docs/widget.md), logout, clearing this browser's dialogue.
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

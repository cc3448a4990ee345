// widget/transport.js: the WebSocket (backoff, ping, the outbox of frames typed offline) and incoming frames.
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

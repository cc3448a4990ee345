// widget/panel.js: the widget's state, its DOM (launcher, panel, composer) and the panel's status, badge and counter.
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

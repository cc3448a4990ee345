// admin/handoffs.js: 人工服务 (docs/handoff.md): the live queue, taking and answering a user; the start; ends the IIFE.
  // ---- 人工服务: users who asked for a person, taken and answered live (docs/handoff.md) ----
  // The queue is polled every 3 s while logged in (badge, title, desktop notification for a new waiting user);
  // the selected conversation's messages every 2 s. Every text is set as text, never as markup.
  var HO_QUEUE_MS = 3000, HO_MESSAGES_MS = 2000, BASE_TITLE = document.title;
  var HO_CHANNELS = { ws: "网页", http: "网页接口", wecom: "企业微信", wecombot: "企业微信机器人", cpdaily: "今日校园" };
  var HO_STATUS = { waiting: "等待中", active: "服务中", closed: "已结束" };
  var HO_REASONS = { released: "客服已交还机器人", user_ended: "用户结束了人工服务", user_left: "用户已离开", timed_out: "无人接入，已转工单", idle: "长时间无消息，已自动结束" };
  var HO_MODES = { answer: "已回答", clarify: "澄清", fallback: "兜底" };
  var ho = { me: null, timer: null, busy: false, seen: null, items: [], current: null };

  function hoUser(h) { return h && h.user ? h.user.name || h.user.id : "游客"; }
  function hoSince(iso) { var m = Math.floor((Date.now() - Date.parse(iso)) / 60000); return isNaN(m) || m < 1 ? "不到 1 分钟" : " " + m + " 分钟"; }
  function hoTime(iso) { var d = new Date(iso); return isNaN(d) ? "" : d.toLocaleString("zh-CN", { hour12: false, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }); }
  function hoPath(id, rest) { return "/api/v1/admin/handoffs/" + encodeURIComponent(id) + (rest || ""); }

  function hoStart() { hoStop(); ho.timer = setInterval(hoPoll, HO_QUEUE_MS); hoPoll(); hoNotifyButton(); }
  function hoStop() {
    clearInterval(ho.timer); ho.timer = null; ho.seen = null; ho.items = [];
    hoClose(); hoBadge(0);
    clear($("ho-detail")).appendChild(el("p", { class: "muted", text: "从左侧选择一个对话。" }));
  }
  function hoBadge(n) {
    $("ho-badge").hidden = !n; $("ho-badge").textContent = n > 99 ? "99+" : String(n);
    document.title = (n ? "(" + n + ") " : "") + BASE_TITLE;
  }
  function hoPoll() {
    if (ho.busy || !ho.timer) return;
    ho.busy = true;
    api("GET", "/api/v1/admin/handoffs").then(function (res) {
      ho.busy = false;
      if (!ho.timer) return; // logged out meanwhile
      var first = !ho.seen, fresh = [];
      ho.seen = ho.seen || {};
      ho.items = res.items || [];
      ho.items.forEach(function (h) {
        if (h.status !== "waiting" || ho.seen[h.id]) return;
        ho.seen[h.id] = true;
        if (!first) fresh.push(h); // the queue found on login is shown, not announced
      });
      hoBadge(res.waiting != null ? res.waiting : ho.items.filter(function (h) { return h.status === "waiting"; }).length);
      hoRenderList();
      fresh.forEach(hoNotify);
    }).catch(function (e) { ho.busy = false; if (ho.timer) message($("ho-list"), "无法获取人工服务队列：" + describe(e), false); });
  }

  // Desktop notifications: asked for from the button, never on load.
  function hoNotifyButton() {
    var b = $("ho-notify");
    b.hidden = !("Notification" in window);
    if (b.hidden) return;
    var p = Notification.permission;
    b.disabled = p !== "default";
    b.textContent = p === "granted" ? "桌面提醒已开启" : p === "denied" ? "浏览器已禁止桌面提醒" : "开启桌面提醒";
  }
  $("ho-notify").addEventListener("click", function () {
    var asked = Notification.requestPermission(hoNotifyButton); // older browsers take a callback
    if (asked && asked.then) asked.then(hoNotifyButton);
  });
  function hoNotify(h) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      var n = new Notification("有用户等待人工服务", { body: hoUser(h) + "：" + (h.last_message || ""), tag: "ehall-handoff-" + h.id });
      n.onclick = function () { window.focus(); show("handoffs"); hoOpen(h.id); n.close(); };
    } catch (e) { /* a browser that only notifies from a service worker */ }
  }

  function hoRenderList() {
    var box = clear($("ho-list"));
    if (!ho.items.length) { box.appendChild(el("p", { class: "muted", text: "目前没有等待或服务中的对话。" })); return; }
    box.appendChild(table(["用户", "渠道", "时间", "最近消息", "状态"], ho.items.map(function (h) {
      var last = h.last_message || "";
      var tr = el("tr", { class: "clickable" + (ho.current && ho.current.id === h.id ? " selected" : ""), "data-id": h.id, "data-session": h.session, "data-status": h.status }, [
        el("td", {}, [hoUser(h), h.user_online === false ? el("span", { class: "muted", text: "（已离开）" }) : null]),
        el("td", { text: HO_CHANNELS[h.channel] || h.channel }),
        el("td", { text: h.status === "waiting" ? "等待" + hoSince(h.created_at) : "已服务" + hoSince(h.taken_at || h.created_at) }),
        el("td", { text: last.length > 60 ? last.slice(0, 60) + "…" : last, title: last }),
        el("td", {}, [el("span", { class: "pill " + h.status, text: HO_STATUS[h.status] || h.status }), h.agent ? h.agent.name || h.agent.id : null])]);
      tr.addEventListener("click", function () { hoOpen(h.id); });
      return tr;
    })));
  }

  // One conversation beside the list: its dialogue with the bot, the live messages, take / release / reply.
  function hoClose() { if (ho.current) clearInterval(ho.current.timer); ho.current = null; }
  function hoOpen(id) {
    hoClose();
    var cur = ho.current = { id: id, after: 0, handoff: null };
    hoRenderList();
    cur.head = el("div"); cur.history = el("div", { class: "ho-history" });
    cur.log = el("div", { class: "ho-log", "aria-live": "polite" }, [el("p", { class: "muted ho-empty", text: "还没有消息。" })]);
    cur.controls = el("div", { class: "row" }); cur.status = el("div");
    cur.input = el("textarea", { style: "flex:1;width:auto", "aria-label": "回复用户" });
    cur.send = el("button", { class: "primary", text: "发送", "data-action": "send", onclick: function () { hoSend(cur); } });
    cur.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); hoSend(cur); }
    });
    cur.composer = el("div", { class: "row" }, [cur.input, cur.send]);
    var box = clear($("ho-detail"));
    box.setAttribute("data-handoff", id);
    [cur.head, el("h2", { text: "与机器人的对话" }), cur.history, el("h2", { text: "人工对话" }), cur.log, cur.composer, cur.controls, cur.status]
      .forEach(function (n) { box.appendChild(n); });
    hoLoad(cur);
    cur.timer = setInterval(function () { hoMessages(cur); }, HO_MESSAGES_MS);
  }
  function hoLoad(cur) {
    return api("GET", hoPath(cur.id)).then(function (res) {
      if (ho.current !== cur) return;
      if (!cur.historyShown) { cur.historyShown = true; hoHistory(cur, res.history || []); }
      hoAppend(cur, res.messages || []);
      hoState(cur, res.handoff);
    }).catch(function (e) { if (ho.current === cur) message(cur.status, describe(e), false); });
  }
  function hoMessages(cur) {
    if (ho.current !== cur || !cur.handoff || cur.handoff.status === "closed" || $("tab-handoffs").hidden) return;
    if (cur.busy) { cur.again = true; return; }
    cur.busy = true;
    var done = function () { cur.busy = false; if (cur.again) { cur.again = false; hoMessages(cur); } };
    api("GET", hoPath(cur.id, "/messages?after=" + cur.after)).then(function (res) {
      if (ho.current === cur) {
        hoAppend(cur, res.messages || []);
        if (res.status && res.status !== cur.handoff.status) hoLoad(cur); // taken, handed back or ended: by whom and why
      }
      done();
    }).catch(done);
  }
  function hoHistory(cur, turns) {
    if (!turns.length) cur.history.appendChild(el("p", { class: "muted", text: "转人工之前没有与机器人的对话。" }));
    turns.forEach(function (t) {
      cur.history.appendChild(el("div", { class: "turn" }, [
        el("div", { class: "muted", text: hoTime(t.created_at) }),
        el("div", {}, [el("b", { text: "用户：" }), t.text]),
        el("div", {}, [el("b", { text: "助手：" }), t.mode ? el("span", { class: "pill " + t.mode, text: HO_MODES[t.mode] || t.mode }) : null, " ", t.item_title || t.intent || ""])]));
    });
  }
  function hoAppend(cur, messages) {
    var log = cur.log, atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    messages.forEach(function (m) {
      if (m.seq <= cur.after) return;
      cur.after = m.seq;
      var empty = log.querySelector(".ho-empty");
      if (empty) log.removeChild(empty);
      var who = m.from === "agent" ? "客服 " + (m.name || "") : m.from === "user" ? m.name || hoUser(cur.handoff) : "系统";
      log.appendChild(el("div", { class: "ho-msg " + m.from, "data-seq": m.seq }, [
        el("span", { class: "muted", text: who + " · " + hoTime(m.created_at) }), m.text]));
    });
    if (atEnd && messages.length) log.scrollTop = log.scrollHeight;
  }
  function hoState(cur, h) {
    cur.handoff = h;
    var mine = h.status === "active" && !!h.agent && !!ho.me && h.agent.id === ho.me.id;
    clear(cur.head).appendChild(el("h2", {}, [hoUser(h) + " · " + (HO_CHANNELS[h.channel] || h.channel) + " ",
      el("span", { class: "pill " + h.status, "data-status": h.status, text: HO_STATUS[h.status] || h.status }), h.agent ? h.agent.name || h.agent.id : null]));
    cur.head.appendChild(el("p", { class: "muted", text: "提出于 " + hoTime(h.created_at) + (h.taken_at ? " · 接入于 " + hoTime(h.taken_at) : "") +
      (h.status !== "closed" && h.user_online === false ? " · 用户已离开" : "") + (h.close_reason ? " · " + (HO_REASONS[h.close_reason] || h.close_reason) : "") }));
    var controls = clear(cur.controls);
    if (h.status === "waiting") controls.appendChild(el("button", { class: "primary", text: "接入", "data-action": "take", onclick: function (ev) { hoAct(cur, "take", ev.target); } }));
    if (h.status !== "closed") controls.appendChild(el("button", { text: "结束并交还机器人", "data-action": "release", onclick: function (ev) { hoAct(cur, "release", ev.target); } }));
    if (h.status === "active" && !mine) controls.appendChild(el("span", { class: "muted", text: "由 " + (h.agent ? h.agent.name || h.agent.id : "其他客服") + " 服务中" }));
    cur.composer.hidden = h.status === "closed";
    cur.input.disabled = cur.send.disabled = !mine;
    cur.input.placeholder = mine ? "回复用户（Enter 发送，Shift+Enter 换行）" : h.status === "waiting" ? "接入后即可回复" : "";
    if (mine && !cur.focused) { cur.focused = true; cur.input.focus(); }
  }
  function hoAct(cur, what, button) {
    button.disabled = true;
    api("POST", hoPath(cur.id, "/" + what)).then(function () {
      if (ho.current === cur) message(cur.status, what === "take" ? "已接入，请直接回复用户。" : "已结束人工服务，对话已交还机器人。", true);
    }).catch(function (e) {
      button.disabled = false;
      if (ho.current === cur) message(cur.status, describe(e), false); // 409: someone else took it, or it ended
    }).then(function () { if (ho.current === cur) hoLoad(cur); hoPoll(); });
  }
  function hoSend(cur) {
    var text = cur.input.value.trim();
    if (!text || cur.send.disabled) return;
    cur.send.disabled = true;
    api("POST", hoPath(cur.id, "/messages"), { text: text }).then(function () {
      cur.input.value = ""; clear(cur.status);
      hoMessages(cur);
    }).catch(function (e) {
      message(cur.status, describe(e), false); // 422 too long, 409 no longer this admin's
      if (e.status === 409) hoLoad(cur);
    }).then(function () {
      if (ho.current !== cur) return;
      cur.send.disabled = cur.input.disabled;
      if (!cur.input.disabled) cur.input.focus();
    });
  }
  loaders.handoffs = function () { hoPoll(); hoNotifyButton(); };

  start();
})();

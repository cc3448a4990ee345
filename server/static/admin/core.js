// admin/core.js: token, DOM and API helpers, login, tabs, the 数据分析 charts; opens the IIFE (handoffs.js closes it).
// The admin page: calls /api/v1/admin/* with the login token in the Authorization header (never a cookie, so
// other sites cannot forge requests), draws its charts as plain SVG, and edits knowledge records field by field.
"use strict";
(function () {
  // Apart from the widget's "ehall-bot.token": logging in here must not make the page's widget talk as 管理员.
  // The CAS login page stores an admin login (a return to /admin) under this key (server/src/auth/pages.rs).
  var TOKEN_KEY = "ehall-admin.token";
  var SVG = "http://www.w3.org/2000/svg";
  var $ = function (id) { return document.getElementById(id); };

  function token() { try { return localStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; } }
  function setToken(t) { try { if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY); } catch (e) { /* private mode */ } }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] == null) return; // an attribute given as null is left off (disabled: null is enabled)
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c != null) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = text;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function pct(x) { return x == null ? "—" : (x * 100).toFixed(1) + "%"; }

  // `body` is sent as JSON, or as it is when a `contentType` is given (a CSV text, a ZIP's bytes).
  function api(method, path, body, contentType) {
    var init = { method: method, headers: { "Authorization": "Bearer " + token() } };
    if (contentType) { init.headers["Content-Type"] = contentType; init.body = body; }
    else if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (resp.status === 401) { showLogin("登录已过期，请重新登录。"); }
        if (!resp.ok) { var err = new Error((data.error && data.error.message) || resp.statusText); err.status = resp.status; err.data = data; throw err; }
        return data;
      });
    });
  }
  function describe(err) {
    var e = err.data && err.data.error;
    if (!e) return err.message;
    var lines = [e.message];
    (e.problems || []).forEach(function (p) { lines.push((p.item ? p.item + " " : "") + (p.field ? "字段 " + p.field + "：" : "") + p.message); });
    return lines.join("\n");
  }
  function message(node, text, ok) { clear(node).appendChild(el("div", { class: "msg " + (ok ? "ok" : "err"), text: text })); }

  // ---- login ----
  function showLogin(text) {
    $("login").hidden = false; $("app").hidden = true; $("tabs").hidden = true; $("logout").hidden = true;
    hoStop();
    if (text) message($("login-msg"), text, false);
  }
  function start() {
    if (!token()) { showLogin(); return; }
    api("GET", "/api/v1/admin/me").then(function (me) {
      $("who").textContent = me.name + "（" + me.id + (me.department ? " · " + me.department : "") + "）";
      $("login").hidden = true; $("app").hidden = false; $("tabs").hidden = false; $("logout").hidden = false;
      ho.me = me;
      show("analytics");
      hoStart();
    }).catch(function (err) {
      showLogin(err.status === 403 ? "该账号不是管理员。" : "无法登录：" + err.message);
    });
  }
  $("login-cas").addEventListener("click", function () { location.href = "/auth/login?return=" + encodeURIComponent("/admin"); });
  $("token-use").addEventListener("click", function () { setToken($("token-input").value.trim()); start(); });
  $("logout").addEventListener("click", function () { setToken(""); showLogin("已退出。"); });

  // ---- tabs ----
  var loaders = {};
  function show(name) {
    Array.prototype.forEach.call(document.querySelectorAll("#tabs button"), function (b) { b.classList.toggle("active", b.dataset.tab === name); });
    Array.prototype.forEach.call(document.querySelectorAll("main > section"), function (s) { s.hidden = s.id !== "tab-" + name; });
    if (loaders[name]) loaders[name]();
  }
  Array.prototype.forEach.call(document.querySelectorAll("#tabs button"), function (b) { b.addEventListener("click", function () { show(b.dataset.tab); }); });

  // ---- charts ----
  var COLORS = { ws: "#1f5fbf", http: "#2e9d5b", wecom: "#d68a00", cpdaily: "#8b5cf6", answer: "#2e9d5b", clarify: "#d68a00", fallback: "#c8423b" };
  function color(key, i) { return COLORS[key] || ["#1f5fbf", "#2e9d5b", "#d68a00", "#8b5cf6", "#0891b2"][i % 5]; }

  function barsByDay(perDay) {
    var w = 520, h = 220, pad = 34;
    var root = svg("svg", { viewBox: "0 0 " + w + " " + h, width: "100%", role: "img", "aria-label": "每日提问量", "data-chart": "per-day" });
    if (!perDay.length) { root.appendChild(svg("text", { x: w / 2, y: h / 2, "text-anchor": "middle" }, "暂无数据")); return root; }
    var channels = {};
    perDay.forEach(function (d) { Object.keys(d.channels).forEach(function (c) { channels[c] = true; }); });
    channels = Object.keys(channels).sort();
    var max = Math.max.apply(null, perDay.map(function (d) { return d.total; })) || 1;
    var slot = (w - pad * 2) / perDay.length, bw = Math.max(4, Math.min(36, slot * 0.7));
    // Gridlines with their values, the axes named, and the range of days shown.
    for (var g = 0; g <= 4; g++) {
      var gy = h - pad - (h - pad * 2) * g / 4;
      root.appendChild(svg("line", { x1: pad, y1: gy, x2: w - pad, y2: gy, stroke: g ? "#eef1f5" : "#cbd5e1", "data-grid": String(g) }));
      root.appendChild(svg("text", { x: pad - 4, y: gy + 4, "text-anchor": "end" }, String(Math.round(max * g / 4))));
    }
    root.appendChild(svg("text", { x: 2, y: 10, "data-axis": "y" }, "提问数"));
    root.appendChild(svg("text", { x: w / 2, y: h - 2, "text-anchor": "middle", "data-axis": "x" },
      "日期（" + perDay[0].day + " 至 " + perDay[perDay.length - 1].day + "）"));
    perDay.forEach(function (d, i) {
      var x = pad + i * slot + (slot - bw) / 2, y = h - pad;
      channels.forEach(function (c, ci) {
        var n = d.channels[c] || 0, bh = (h - pad * 2) * n / max;
        if (!n) return;
        y -= bh;
        var r = svg("rect", { x: x, y: y, width: bw, height: bh, fill: color(c, ci) });
        r.appendChild(svg("title", {}, d.day + " " + c + "：" + n));
        root.appendChild(r);
      });
      if (perDay.length <= 14 || i % Math.ceil(perDay.length / 10) === 0) {
        root.appendChild(svg("text", { x: x + bw / 2, y: h - pad + 14, "text-anchor": "middle" }, d.day.slice(5)));
      }
    });
    channels.forEach(function (c, ci) {
      root.appendChild(svg("rect", { x: w - pad - 70, y: 6 + ci * 14, width: 10, height: 10, fill: color(c, ci) }));
      root.appendChild(svg("text", { x: w - pad - 55, y: 15 + ci * 14 }, c));
    });
    return root;
  }

  function hbars(rows, name) {
    var w = 360, rowH = 26, h = rows.length * rowH + 8;
    var root = svg("svg", { viewBox: "0 0 " + w + " " + h, width: "100%", role: "img", "aria-label": name, "data-chart": name });
    rows.forEach(function (r, i) {
      var y = 4 + i * rowH, bw = Math.max(1, (w - 150) * (r.value || 0));
      root.appendChild(svg("text", { x: 0, y: y + 15 }, r.label));
      root.appendChild(svg("rect", { x: 70, y: y + 4, width: w - 150, height: 14, fill: "#eef2f9" }));
      root.appendChild(svg("rect", { x: 70, y: y + 4, width: bw, height: 14, fill: r.color }));
      root.appendChild(svg("text", { x: w - 75, y: y + 15 }, r.text));
    });
    return root;
  }

  function table(headers, rows) {
    var t = el("table", {}, [el("tr", {}, headers.map(function (h) { return el("th", { text: h }); }))]);
    rows.forEach(function (r) { t.appendChild(r instanceof Node ? r : el("tr", {}, r.map(function (c) { return el("td", {}, [c instanceof Node ? c : String(c == null ? "" : c)]); }))); });
    return t;
  }

  loaders.analytics = function () {
    api("GET", "/api/v1/admin/analytics?days=" + $("an-days").value).then(function (s) {
      var k = clear($("kpis"));
      [["提问总数", s.total], ["回答率", pct(s.rates.answer)], ["满意度", pct(s.satisfaction.rate)],
       ["延迟中位数", s.latency_ms.median == null ? "—" : s.latency_ms.median + " ms"], ["P99 延迟", s.latency_ms.p99 == null ? "—" : s.latency_ms.p99 + " ms"]]
        .forEach(function (x) { k.appendChild(el("div", { class: "kpi" }, [el("b", { text: String(x[1]) }), el("span", { text: x[0] })])); });
      clear($("chart-days")).appendChild(barsByDay(s.per_day));
      clear($("chart-modes")).appendChild(hbars([
        { label: "回答", value: s.rates.answer, text: pct(s.rates.answer), color: COLORS.answer },
        { label: "澄清", value: s.rates.clarify, text: pct(s.rates.clarify), color: COLORS.clarify },
        { label: "兜底", value: s.rates.fallback, text: pct(s.rates.fallback), color: COLORS.fallback }], "modes"));
      var votes = s.satisfaction.up + s.satisfaction.down;
      clear($("chart-satisfaction")).appendChild(hbars([
        { label: "👍", value: votes ? s.satisfaction.up / votes : 0, text: String(s.satisfaction.up), color: COLORS.answer },
        { label: "👎", value: votes ? s.satisfaction.down / votes : 0, text: String(s.satisfaction.down), color: COLORS.fallback }], "satisfaction"));
      clear($("top-questions")).appendChild(table(["问题", "次数"], s.top_questions.map(function (q) { return [q.text, q.count]; })));
      clear($("top-items")).appendChild(table(["事项", "次数"], s.top_items.map(function (q) { return [q.title || q.id, q.count]; })));
      clear($("never-asked")).appendChild(el("div", {}, [el("p", { class: "muted", text: "共 " + s.never_asked.total + " 项（显示前 50 项）" }),
        table(["事项"], s.never_asked.items.map(function (q) { return [q.title || q.id]; }))]));
      var pop = clear($("popular"));
      if (!s.popular.length) pop.appendChild(el("p", { class: "muted", text: "流量尚少，欢迎语仍使用预设的推荐问题。" }));
      s.popular.forEach(function (q) { pop.appendChild(el("span", { class: "pill", text: q })); });
    }).catch(function (err) { message($("kpis"), describe(err), false); });
  };
  $("an-days").addEventListener("change", loaders.analytics);
  $("an-refresh").addEventListener("click", loaders.analytics);

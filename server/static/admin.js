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

  // ---- knowledge records ----
  var LABELS = { id: "编号", name: "名称", department: "责任部门", theme: "主题", audience: "服务对象（每行一个：学生/教师/校友/校外人员）", cycle: "办理周期",
    summary: "事项简介", notes: "注意事项", steps: "办理流程（每行一步）", materials: "所需材料（每行一项）", contact: "咨询方式", phone: "电话",
    office: "地点", person: "联系人", online: "在线办理", system: "系统", requires_role: "限定身份", tags: "标签（每行一个）",
    high_frequency: "高频事项", question: "问题", answer: "答案", related_service: "相关事项（名称）", related_app: "相关应用（名称）",
    category: "分类", description: "说明", url: "网址", hours: "办公时间", title: "标题", date: "日期",
    synonyms: "同义词（每行一组，用空格分隔，第一个为标准词）", words: "领域词（每行一个）", fillers: "虚词（每行一个）",
    other_institutions: "其他机构名称（每行一个）", expansions: "扩展词（JSON）" };
  var TEMPLATES = {
    service: { id: "", name: "", department: "", theme: "", audience: ["学生"], cycle: "常年", summary: "", notes: "", steps: [], materials: [], contact: { phone: "", office: "" }, tags: [], high_frequency: false },
    faq: { id: "", question: "", answer: "" },
    app: { id: "", name: "", category: "", audience: ["学生"], description: "", url: "https://" },
    department: { name: "", phone: "", office: "", hours: "" },
    news: { id: "", title: "", category: "", date: "", summary: "" }
  };
  var OPTIONAL = { person: "", online: { system: "" }, related_service: "", related_app: "", requires_role: "" };
  // Fields in the order of the portal's 办事指南 (and of each kind's own page), not of their English names.
  var FIELD_ORDER = {
    service: ["name", "department", "theme", "audience", "cycle", "summary", "materials", "steps", "notes", "contact", "phone", "office", "person", "online", "system", "requires_role", "tags", "high_frequency", "id"],
    faq: ["question", "answer", "related_service", "related_app", "id"],
    app: ["name", "category", "audience", "description", "url", "id"],
    department: ["name", "phone", "office", "hours"],
    news: ["title", "category", "date", "summary", "id"]
  };
  var ID_PREFIX = { service: "s-", faq: "f-", app: "a-", news: "n-" };
  function orderedKeys(kind, value) {
    var order = FIELD_ORDER[kind] || [];
    var rank = function (k) { var i = order.indexOf(k); return i < 0 ? order.length : i; };
    return Object.keys(value).sort(function (a, b) { return rank(a) - rank(b); });
  }
  // A new record's id: the kind's prefix, the day and a random part; shown read-only, never typed by hand.
  function generatedId(kind) {
    var day = new Date().toISOString().slice(0, 10).replace(/-/g, "");
    return (ID_PREFIX[kind] || "x-") + day + "-" + Math.random().toString(36).slice(2, 8);
  }

  // A form for a JSON object: strings, numbers, booleans, lists of strings, nested objects; reads back the same shape.
  function formFor(value, path, readers, invalidField, kind) {
    var box = el("div");
    orderedKeys(kind, value).forEach(function (key) {
      var v = value[key], name = path ? path + "." + key : key, label = LABELS[key] || key;
      var wrap = el("div", { class: "field" + (invalidField === name || invalidField === key ? " invalid" : ""), "data-field": name });
      if (v && typeof v === "object" && !Array.isArray(v) && key !== "expansions") {
        var inner = el("div", { class: "fieldset" }, [el("label", { text: label })]);
        var sub = {};
        inner.appendChild(formFor(v, name, sub, invalidField, kind));
        readers[key] = function () { var o = {}; Object.keys(sub).forEach(function (k) { var x = sub[k](); if (x !== undefined) o[k] = x; }); return o; };
        box.appendChild(inner);
        return;
      }
      wrap.appendChild(el("label", { text: label }));
      var input;
      if (typeof v === "boolean") {
        input = el("input", { type: "checkbox", style: "width:auto", name: name }); input.checked = v;
        readers[key] = function () { return input.checked; };
      } else if (Array.isArray(v)) {
        var nested = v.length && Array.isArray(v[0]);
        input = el("textarea", { name: name });
        input.value = v.map(function (x) { return nested ? x.join(" ") : x; }).join("\n");
        readers[key] = function () {
          var lines = input.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
          return nested || key === "synonyms" ? lines.map(function (l) { return l.split(/\s+/); }) : lines;
        };
      } else if (v && typeof v === "object") {
        input = el("textarea", { name: name }); input.value = JSON.stringify(v, null, 1);
        readers[key] = function () { try { return JSON.parse(input.value || "{}"); } catch (e) { return v; } };
      } else {
        var long = typeof v === "string" && (v.length > 40 || /summary|notes|answer|description/.test(key));
        input = el(long ? "textarea" : "input", { name: name }); input.value = v == null ? "" : String(v);
        if (key === "id" && !path) { input.readOnly = true; input.title = "编号自动生成，保存后不能修改"; }
        readers[key] = function () { var s = input.value; return (s === "" && key in OPTIONAL) ? undefined : s; };
      }
      wrap.appendChild(input);
      box.appendChild(wrap);
    });
    return box;
  }

  function withOptional(kind, body) {
    var out = JSON.parse(JSON.stringify(body));
    if (kind === "service") { if (!out.online) out.online = { system: "" }; if (out.contact && !("person" in out.contact)) out.contact.person = ""; }
    if (kind === "faq") { if (!("related_service" in out)) out.related_service = ""; if (!("related_app" in out)) out.related_app = ""; }
    return out;
  }
  function withoutEmpty(body) {
    if (body.online && !body.online.system) delete body.online;
    if (body.online && !body.online.requires_role) delete body.online.requires_role;
    return body;
  }

  function openEditor(kind, record) {
    var box = clear($("editor"));
    box.scrollTop = 0;
    var isNew = !record;
    var body = withOptional(kind, isNew ? TEMPLATES[kind] : record.body);
    if (isNew && "id" in body) body.id = generatedId(kind);
    box.appendChild(el("h2", { text: isNew ? "新建" : (record.retired ? "（已下线）" : "") + record.id }));
    var status = el("div");
    box.appendChild(status);
    var readers = {};
    var formBox = el("div");
    box.appendChild(formBox);
    var questions = el("textarea", { name: "questions", style: "min-height:90px" });
    function render(invalid) { clear(formBox).appendChild(formFor(body, "", readers, invalid, kind)); }
    render();
    var hasQuestions = ["service", "app", "faq"].indexOf(kind) >= 0;
    if (hasQuestions) {
      questions.value = (record && record.questions || []).join("\n");
      box.appendChild(el("div", { class: "field" }, [el("label", { text: "相似问题（每行一个）" }), questions]));
    }
    var owner = el("input", { name: "owner_department", value: record && record.owner_department || "" });
    box.appendChild(el("div", { class: "field" }, [el("label", { text: "负责部门（复核）" }), owner]));
    if (record) box.appendChild(el("p", { class: "muted", text: "最近复核：" + record.last_reviewed.slice(0, 10) + " · 最近修改：" + record.updated_at.slice(0, 16).replace("T", " ") + "（" + record.updated_by + "）" }));
    function read() {
      var b = {}; Object.keys(readers).forEach(function (k) { var x = readers[k](); if (x !== undefined) b[k] = x; });
      var req = { body: withoutEmpty(b), owner_department: owner.value.trim() };
      if (hasQuestions) req.questions = questions.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
      return req;
    }
    var save = el("button", { class: "primary", text: "保存并生效", "data-action": "save" });
    save.addEventListener("click", function () {
      var req = read(); body = withOptional(kind, req.body);
      var id = kind === "department" ? req.body.name : (["lexicon"].indexOf(kind) >= 0 ? "all" : req.body.id);
      save.disabled = true;
      var call = isNew ? api("POST", "/api/v1/admin/items/" + kind, req) : api("PUT", "/api/v1/admin/items/" + kind + "/" + encodeURIComponent(record.id), req);
      call.then(function (res) {
        save.disabled = false;
        message(status, "已保存，新内容已生效。", true);
        isNew = false; record = res.saved[0]; loaders.items();
      }).catch(function (err) {
        save.disabled = false;
        var field = err.data && err.data.error && err.data.error.field;
        render(field); message(status, describe(err), false);
        void id;
      });
    });
    var actions = el("div", { class: "row" }, [save]);
    if (record && kind !== "lexicon") {
      actions.appendChild(el("button", { text: "标记已复核", onclick: function () {
        api("POST", "/api/v1/admin/items/" + kind + "/" + encodeURIComponent(record.id) + "/reviewed").then(function () { message(status, "已标记复核。", true); }).catch(function (e) { message(status, describe(e), false); });
      } }));
      actions.appendChild(el("button", { text: record.retired ? "恢复上线" : "下线", onclick: function () {
        var path = "/api/v1/admin/items/" + kind + "/" + encodeURIComponent(record.id);
        (record.retired ? api("POST", path + "/restore") : api("DELETE", path)).then(function (res) {
          record = res.saved[0]; message(status, record.retired ? "已下线。" : "已恢复。", true); loaders.items();
        }).catch(function (e) { message(status, describe(e), false); });
      } }));
    }
    box.appendChild(actions);
  }

  loaders.items = function () {
    var kind = $("it-kind").value;
    if (kind === "lexicon") {
      clear($("it-list")).appendChild(el("p", { class: "muted", text: "同义词、领域词等为一条记录。" }));
      api("GET", "/api/v1/admin/items/lexicon/all").then(function (r) { openEditor("lexicon", r); });
      return;
    }
    var q = "/api/v1/admin/items?kind=" + kind + "&q=" + encodeURIComponent($("it-q").value) + ($("it-retired").checked ? "&retired=true" : "");
    api("GET", q).then(function (res) {
      listing.items = res.items;
      listing.page = 0;
      fillDepartments(res.items);
      renderListing();
    });
  };
  // The list as loaded, filtered, sorted and cut into pages on the page itself (a few hundred records at most).
  var PAGE_SIZE = 20;
  var listing = { items: [], page: 0, sort: "title", staleDays: 180 };
  api("GET", "/api/v1/admin/stale").then(function (r) { if (r && r.days) listing.staleDays = r.days; }).catch(function () {});
  function fillDepartments(items) {
    var select = $("it-dept"), keep = select.value;
    var depts = {};
    items.forEach(function (it) { if (it.owner_department) depts[it.owner_department] = true; });
    clear(select).appendChild(el("option", { value: "", text: "全部部门" }));
    Object.keys(depts).sort().forEach(function (d) { select.appendChild(el("option", { value: d, text: d })); });
    select.value = depts[keep] ? keep : "";
  }
  function isStale(it) {
    return Date.now() - Date.parse(it.last_reviewed) > listing.staleDays * 86400000;
  }
  function shownItems() {
    var dept = $("it-dept").value, staleOnly = $("it-stale").checked;
    var rows = listing.items.filter(function (it) { return (!dept || it.owner_department === dept) && (!staleOnly || isStale(it)); });
    var key = listing.sort;
    rows.sort(function (a, b) {
      if (key === "last_reviewed" || key === "updated_at") return String(a[key]).localeCompare(String(b[key]));
      return String(a[key] || "").localeCompare(String(b[key] || ""), "zh-CN");
    });
    return rows;
  }
  function renderListing() {
    var kind = $("it-kind").value;
    var rows = shownItems();
    var pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    listing.page = Math.min(listing.page, pages - 1);
    var from = listing.page * PAGE_SIZE;
    var trs = rows.slice(from, from + PAGE_SIZE).map(function (it) {
      var tr = el("tr", { class: "clickable", "data-id": it.id }, [
        el("td", { text: it.title + (it.retired ? "（已下线）" : "") }),
        el("td", { class: "muted", text: it.owner_department || "" }),
        el("td", { class: "muted" + (isStale(it) ? " stale" : ""), text: String(it.last_reviewed || "").slice(0, 10) })]);
      tr.addEventListener("click", function () {
        Array.prototype.forEach.call(document.querySelectorAll("#it-list tr.selected"), function (r) { r.classList.remove("selected"); });
        tr.classList.add("selected");
        api("GET", "/api/v1/admin/items/" + kind + "/" + encodeURIComponent(it.id)).then(function (r) { openEditor(kind, r); });
      });
      return tr;
    });
    var head = el("tr", {}, [["title", "名称"], ["owner_department", "负责部门"], ["last_reviewed", "最近复核"]].map(function (h) {
      var th = el("th", { class: "sortable" + (listing.sort === h[0] ? " sorted" : ""), text: h[1] + (listing.sort === h[0] ? " ▲" : ""), "data-sort": h[0] });
      th.addEventListener("click", function () { listing.sort = h[0]; renderListing(); });
      return th;
    }));
    var t = el("table", {}, [head].concat(trs));
    var pager = el("div", { class: "row pager" }, [
      el("button", { text: "上一页", "data-page": "prev", disabled: listing.page === 0 ? "disabled" : null, onclick: function () { listing.page -= 1; renderListing(); } }),
      el("span", { class: "muted", text: "第 " + (listing.page + 1) + " / " + pages + " 页" }),
      el("button", { text: "下一页", "data-page": "next", disabled: listing.page >= pages - 1 ? "disabled" : null, onclick: function () { listing.page += 1; renderListing(); } })]);
    clear($("it-list")).appendChild(el("p", { class: "muted", text: "共 " + rows.length + " 条" + (rows.length !== listing.items.length ? "（筛选自 " + listing.items.length + " 条）" : "") }));
    $("it-list").appendChild(t);
    $("it-list").appendChild(pager);
  }
  $("it-dept").addEventListener("change", function () { listing.page = 0; renderListing(); });
  $("it-stale").addEventListener("change", function () { listing.page = 0; renderListing(); });
  $("it-kind").addEventListener("change", loaders.items);
  $("it-retired").addEventListener("change", loaders.items);
  var searchTimer;
  $("it-q").addEventListener("input", function () { clearTimeout(searchTimer); searchTimer = setTimeout(loaders.items, 250); });
  $("it-new").addEventListener("click", function () { var k = $("it-kind").value; if (TEMPLATES[k]) openEditor(k, null); });

  // ---- bulk export and import (CSV, one kind per file) ----
  var BULK_KINDS = { service: true, app: true, faq: true, department: true, news: true };
  var ACTION_NAMES = { create: "新建", edit: "修改" };
  $("it-export").addEventListener("click", function () {
    var kind = $("it-kind").value;
    if (!BULK_KINDS[kind]) { message($("it-import-preview"), "这一类型不能导出为表格。", false); return; }
    download("/api/v1/admin/export?kind=" + kind, "ehall-" + kind + ".csv");
  });
  // Saves what an export route returns as `filename`; a failure is shown where import previews appear.
  function download(path, filename) {
    fetch(path, { headers: { "Authorization": "Bearer " + token() } }).then(function (resp) {
      if (!resp.ok) throw new Error("导出失败（" + resp.status + "）");
      return resp.blob();
    }).then(function (blob) {
      var a = el("a", { href: URL.createObjectURL(blob), download: filename });
      document.body.appendChild(a); a.click(); a.remove();
    }).catch(function (e) { message($("it-import-preview"), e.message, false); });
  }
  function importCsv(kind, text, apply) {
    return api("POST", "/api/v1/admin/import?kind=" + kind + (apply ? "&apply=true" : ""), text, "text/csv; charset=utf-8");
  }
  // A chosen file is previewed first: what it creates and changes, or every problem; applied only on 确认导入.
  $("it-import").addEventListener("change", function () {
    var file = $("it-import").files[0], kind = $("it-kind").value, box = $("it-import-preview");
    $("it-import").value = "";
    if (!file) return;
    if (!BULK_KINDS[kind]) { message(box, "这一类型不能从表格导入。", false); return; }
    file.text().then(function (text) {
      importCsv(kind, text, false).then(function (res) {
        clear(box).appendChild(el("div", { class: "card", "data-preview": kind }, [
          el("h2", { text: "导入预览：" + file.name }),
          el("p", { class: "muted", text: "共 " + res.rows + " 行：新建 " + res.changes.filter(function (c) { return c.action === "create"; }).length +
            " 条，修改 " + res.changes.filter(function (c) { return c.action === "edit"; }).length + " 条，未变 " + res.unchanged + " 条。" }),
          table(["操作", "编号", "名称", "变更的字段"], res.changes.map(function (c) { return [ACTION_NAMES[c.action] || c.action, c.id, c.title, c.fields.join("、")]; })),
          el("div", { class: "row" }, [
            el("button", { class: "primary", text: "确认导入", "data-action": "apply-import", disabled: res.changes.length ? null : "disabled", onclick: function (ev) {
              ev.target.disabled = true;
              importCsv(kind, text, true).then(function (done) {
                message(box, "已导入 " + done.changes.length + " 条，新内容已生效。", true); loaders.items();
              }).catch(function (e) { message(box, describe(e), false); });
            } }),
            el("button", { text: "取消", onclick: function () { clear(box); } })])]));
      }).catch(function (e) { message(box, "无法导入 " + file.name + "：\n" + describe(e), false); });
    });
  });

  // ---- the whole knowledge base in the format of data/ (a ZIP), previewed before it is applied ----
  var RECORD_KIND_NAMES = { service: "服务事项", app: "应用", faq: "常见问题", department: "部门", news: "新闻", lexicon: "词表", texts: "话术", systems: "系统" };
  var DATA_ACTION_NAMES = { create: "新建", edit: "修改", retire: "下线" };
  $("kb-export").addEventListener("click", function () { download("/api/v1/admin/export/data", "ehall-data.zip"); });
  function importData(bytes, apply) {
    return api("POST", "/api/v1/admin/import/data" + (apply ? "?apply=true" : ""), bytes, "application/zip");
  }
  $("kb-import").addEventListener("change", function () {
    var file = $("kb-import").files[0], box = $("it-import-preview");
    $("kb-import").value = "";
    if (!file) return;
    file.arrayBuffer().then(function (bytes) {
      importData(bytes, false).then(function (res) {
        var count = function (a) { return res.changes.filter(function (c) { return c.action === a; }).length; };
        var children = [
          el("h2", { text: "导入预览：" + file.name }),
          el("p", { class: "muted", text: "共 " + res.records + " 条：新建 " + count("create") + " 条，修改 " + count("edit") + " 条，下线 " + count("retire") + " 条，未变 " + res.unchanged + " 条。" }),
          table(["操作", "类型", "编号", "名称"], res.changes.map(function (c) { return [DATA_ACTION_NAMES[c.action] || c.action, RECORD_KIND_NAMES[c.kind] || c.kind, c.id, c.title]; }))];
        if (res.ignored.length) children.push(el("p", { class: "muted", text: "未导入（不属于知识库）：" + res.ignored.join("、") }));
        children.push(el("div", { class: "row" }, [
          el("button", { class: "primary", text: "确认导入", "data-action": "apply-data-import", disabled: res.changes.length ? null : "disabled", onclick: function (ev) {
            ev.target.disabled = true;
            importData(bytes, true).then(function (done) {
              message(box, "已导入 " + done.changes.length + " 项变更，新内容已生效。", true); loaders.items();
            }).catch(function (e) { message(box, describe(e), false); });
          } }),
          el("button", { text: "取消", onclick: function () { clear(box); } })]));
        clear(box).appendChild(el("div", { class: "card", "data-preview": "data" }, children));
      }).catch(function (e) { message(box, "无法导入 " + file.name + "：\n" + describe(e), false); });
    });
  });

  // ---- the unanswered loop ----
  var KIND_NAMES = { service: "服务事项", app: "应用", faq: "常见问题" };
  // Which item should answer a question: the retrieval's candidates by title (none chosen in advance, so one
  // click cannot teach the bot its own mistake) and a search over every service, app and FAQ.
  function itemPicker(text) {
    var chosen = null;
    var search = el("input", { placeholder: "搜索事项、应用或常见问题的名称", "aria-label": "搜索要关联的事项" });
    var label = el("div", { class: "muted", text: "尚未选择" });
    var list = el("ul", { role: "listbox" });
    function show(items) {
      clear(list);
      items.forEach(function (it) {
        var li = el("li", { role: "option", "data-id": it.id, class: it.id === chosen ? "chosen" : null }, [it.title, el("span", { class: "muted", text: KIND_NAMES[it.kind] || it.kind })]);
        li.addEventListener("click", function () {
          chosen = it.id;
          label.textContent = "已选择：" + it.title + "（" + (KIND_NAMES[it.kind] || it.kind) + "）";
          Array.prototype.forEach.call(list.children, function (x) { x.classList.toggle("chosen", x === li); });
        });
        list.appendChild(li);
      });
      if (!items.length) list.appendChild(el("li", { class: "muted", text: "没有匹配的条目" }));
    }
    api("GET", "/api/v1/admin/explain?text=" + encodeURIComponent(text)).then(function (x) {
      if (search.value.trim()) return;
      show(x.candidates.slice(0, 5).map(function (c) { return { id: c.id, title: c.title, kind: c.kind || "" }; }));
    }).catch(function () {});
    var timer;
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = search.value.trim();
        if (!q) return;
        api("GET", "/api/v1/admin/items?q=" + encodeURIComponent(q)).then(function (res) {
          show(res.items.filter(function (it) { return KIND_NAMES[it.kind]; }).slice(0, 12));
        });
      }, 250);
    });
    return { node: el("div", { class: "picker" }, [search, list, label]), chosen: function () { return chosen; } };
  }

  var REASONS = { fallback: "兜底", clarify: "澄清", thumbs_down: "点踩" };
  loaders.unanswered = function () {
    api("GET", "/api/v1/admin/unanswered").then(function (res) {
      var list = clear($("un-list"));
      if (!res.groups.length) { list.appendChild(el("p", { class: "muted", text: "没有待处理的问题。" })); return; }
      res.groups.forEach(function (g) {
        var others = g.variants.map(function (v) { return v[0]; });
        var picker = itemPicker(g.text);
        var answer = el("textarea", { placeholder: "新常见问题的答案" });
        var status = el("div");
        var reasons = Object.keys(g.reasons).map(function (r) { return el("span", { class: "pill " + r, text: REASONS[r] + " " + g.reasons[r] }); });
        var card = el("div", { class: "card", "data-group": g.text }, [
          el("div", {}, [el("b", { text: g.text }), " ", el("span", { class: "muted", text: "× " + g.count })].concat(reasons)),
          g.variants.length > 1 ? el("p", { class: "muted", text: "相似问法：" + others.join(" ／ ") }) : null,
          g.suggested_item ? el("p", { class: "muted", text: "检索首选：" + g.suggested_item.title + "（" + g.suggested_item.id + "）" }) : null,
          el("div", { class: "row" }, [picker.node, el("button", { text: "加为相似问题", "data-action": "attach", onclick: function () {
            if (!picker.chosen()) { message(status, "请先在左侧选择这个问题该由哪一项回答。", false); return; }
            api("POST", "/api/v1/admin/unanswered/attach", { text: g.text, item_id: picker.chosen(), also_resolve: others })
              .then(function () { message(status, "已加入，现在可以回答了。", true); setTimeout(loaders.unanswered, 800); })
              .catch(function (e) { message(status, describe(e), false); });
          } })]),
          el("div", { class: "row" }, [answer, el("button", { text: "新建常见问题", onclick: function () {
            api("POST", "/api/v1/admin/unanswered/faq", { text: g.text, answer: answer.value, also_resolve: others })
              .then(function () { message(status, "已新建常见问题并生效。", true); setTimeout(loaders.unanswered, 800); })
              .catch(function (e) { message(status, describe(e), false); });
          } }), el("button", { text: "忽略", onclick: function () {
            api("POST", "/api/v1/admin/unanswered/dismiss", { texts: others }).then(loaders.unanswered);
          } })]),
          status]);
        list.appendChild(card);
      });
    });
  };

  // ---- question log and explain ----
  var MODES = { answer: "已回答", clarify: "澄清", fallback: "兜底" };
  // The session's whole dialogue around one logged question: who asked what, and what the bot did.
  function renderConversation(id) {
    var box = $("conversation");
    api("GET", "/api/v1/admin/questions/" + encodeURIComponent(id) + "/conversation").then(function (c) {
      clear(box).appendChild(el("h2", { text: "整段对话（会话 " + c.session + "，共 " + c.turns.length + " 轮）" }));
      c.turns.forEach(function (t) {
        box.appendChild(el("div", { class: "turn" + (t.selected ? " selected" : ""), "data-turn": t.id }, [
          el("div", { class: "muted", text: t.created_at.slice(0, 19).replace("T", " ") + " · " + t.channel + (t.audience ? " · " + t.audience : "") }),
          el("div", {}, [el("b", { text: "用户：" }), t.text]),
          el("div", {}, [el("b", { text: "助手：" }), el("span", { class: "pill " + t.mode, text: MODES[t.mode] || t.mode }), " ",
            t.item_title || t.intent, t.helpful == null ? "" : (t.helpful ? " 👍" : " 👎")])]));
      });
    }).catch(function (e) { message(box, describe(e), false); });
  }
  function renderExplain(x) {
    var box = clear($("explain"));
    if (x.logged && x.logged.id) {
      box.appendChild(el("div", { class: "row" }, [el("button", { text: "查看整段对话", "data-action": "conversation", onclick: function () { renderConversation(x.logged.id); } })]));
    }
    if (x.logged) box.appendChild(el("p", { class: "muted", text: "记录：" + x.logged.created_at.slice(0, 19).replace("T", " ") + " · " + x.logged.mode + " · " + (x.logged.top_item || "无") }));
    box.appendChild(el("p", {}, [el("b", { text: "问题：" }), x.text]));
    box.appendChild(el("p", {}, [el("b", { text: "检索词：" })].concat(x.terms.map(function (t) { return el("span", { class: "pill", text: t }); }))));
    box.appendChild(el("p", {}, [el("b", { text: "判定：" }), el("span", { class: "pill " + x.decision, text: x.decision }), " 置信度 " + x.confidence.toFixed(3) + (x.dense_used ? " · 语义检索已参与" : " · 仅关键词检索")]));
    box.appendChild(table(["#", "候选", "融合分", "关键词排名/分", "覆盖", "语义排名/相似度", "命中词"], x.candidates.map(function (c, i) {
      return [i + 1, c.title + "（" + c.id + "）", c.fused.toFixed(3),
        c.lexical_rank == null ? "—" : c.lexical_rank + " / " + c.lexical_score.toFixed(2), c.coverage == null ? "—" : pct(c.coverage),
        c.dense_rank == null ? "—" : c.dense_rank + " / " + c.cosine.toFixed(3), (c.matched_terms || []).join(" ")];
    })));
  }
  loaders.questions = function () {
    var q = "/api/v1/admin/questions?limit=100&mode=" + $("q-mode").value + "&q=" + encodeURIComponent($("q-text").value);
    if (!$("q-mode").value) q = q.replace("&mode=", "&");
    api("GET", q).then(function (res) {
      var rows = res.questions.map(function (x) {
        var tr = el("tr", { class: "clickable" }, [el("td", { text: x.created_at.slice(5, 16).replace("T", " ") }), el("td", { text: x.text }),
          el("td", {}, [el("span", { class: "pill " + x.mode, text: x.mode })]), el("td", { text: x.helpful == null ? "" : (x.helpful ? "👍" : "👎") })]);
        tr.addEventListener("click", function () { api("GET", "/api/v1/admin/questions/" + encodeURIComponent(x.id) + "/explain").then(renderExplain); });
        return tr;
      });
      clear($("q-list")).appendChild(table(["时间", "问题", "结果", "评价"], rows));
    });
  };
  $("q-refresh").addEventListener("click", loaders.questions);
  $("q-mode").addEventListener("change", loaders.questions);
  $("ex-run").addEventListener("click", function () {
    var t = $("ex-text").value.trim();
    if (t) api("GET", "/api/v1/admin/explain?text=" + encodeURIComponent(t)).then(renderExplain).catch(function (e) { message($("explain"), describe(e), false); });
  });

  // ---- feedback and 工单 ----
  var STATUSES = { submitted: "待处理", processing: "处理中", answered: "已答复", closed: "已关闭" };
  loaders.feedback = function () {
    var st = $("fb-status").value;
    api("GET", "/api/v1/admin/feedback" + (st ? "?status=" + st : "")).then(function (res) {
      var list = clear($("fb-list"));
      if (!res.items.length) { list.appendChild(el("p", { class: "muted", text: "没有记录。" })); return; }
      res.items.forEach(function (f) {
        var select = el("select", {});
        Object.keys(STATUSES).forEach(function (k) { var o = el("option", { value: k, text: STATUSES[k] }); if (k === f.status) o.selected = true; select.appendChild(o); });
        var answer = el("textarea", { placeholder: "答复内容（填写后将以通知发送给提交人）" });
        var status = el("div");
        list.appendChild(el("div", { class: "card", "data-feedback": f.id }, [
          el("div", {}, [el("b", { text: f.id }), " ", el("span", { class: "pill", text: STATUSES[f.status] || f.status }), " ", el("span", { class: "muted", text: f.user_id + " · " + f.created_at.slice(0, 16).replace("T", " ") })]),
          el("p", { text: f.content }),
          f.answer ? el("p", { class: "muted", text: "已答复：" + f.answer }) : null,
          el("div", { class: "row" }, [answer, select, el("button", { class: "primary", text: "保存", onclick: function () {
            var body = { status: select.value }; if (answer.value.trim()) { body.answer = answer.value.trim(); if (body.status === "submitted" || body.status === "processing") body.status = "answered"; }
            api("POST", "/api/v1/admin/feedback/" + encodeURIComponent(f.id), body).then(function (r) {
              message(status, r.notified ? "已答复，并已通知提交人。" : "状态已更新。", true); setTimeout(loaders.feedback, 800);
            }).catch(function (e) { message(status, describe(e), false); });
          } })]), status]));
      });
    }).catch(function (e) { message($("fb-list"), describe(e), false); });
  };
  $("fb-status").addEventListener("change", loaders.feedback);
  $("fb-refresh").addEventListener("click", loaders.feedback);

  // ---- freshness and audit ----
  loaders.stale = function () {
    var days = $("st-days").value;
    api("GET", "/api/v1/admin/stale" + (days ? "?days=" + days : "")).then(function (res) {
      if (!days) $("st-days").value = res.days;
      clear($("st-list")).appendChild(el("p", { class: "muted", text: "共 " + res.total + " 项" + (res.department ? "（" + res.department + "）" : "") }));
      $("st-list").appendChild(table(["类型", "名称", "负责部门", "最近复核"], res.items.map(function (i) { return [i.kind, i.title, i.owner_department || "", i.last_reviewed.slice(0, 10)]; })));
    });
  };
  $("st-refresh").addEventListener("click", loaders.stale);
  var ACTIONS = { create: "新建", edit: "修改", retire: "下线", restore: "恢复", review: "复核", add_question: "加相似问题", create_from_question: "由问题新建", answer: "答复反馈", set_status: "反馈状态" };
  loaders.audit = function () {
    api("GET", "/api/v1/admin/audit?limit=200").then(function (res) {
      clear($("audit-list")).appendChild(table(["时间", "操作人", "操作", "对象"], res.entries.map(function (e) {
        return [e.created_at.slice(0, 19).replace("T", " "), e.actor, ACTIONS[e.action] || e.action, e.kind + ":" + e.item_id];
      })));
    });
  };

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

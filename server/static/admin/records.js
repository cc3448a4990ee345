// admin/records.js: knowledge records: the field editor, the list (search, sort), CSV and data/ ZIP import/export.
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

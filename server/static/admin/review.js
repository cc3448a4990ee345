// admin/review.js: unanswered questions, the question log with explain, feedback and 工单, stale records, audit log.
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

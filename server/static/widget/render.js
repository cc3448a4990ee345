// widget/render.js: the transcript and the log's messages: user turns, welcome, replies, errors, ratings, chips.
  // ---------------------------------------------------------------- transcript

  function remember(entry) {
    entry.at = Date.now();
    state.transcript.push(entry);
    if (state.transcript.length > MAX_TRANSCRIPT) {
      state.transcript.splice(0, state.transcript.length - MAX_TRANSCRIPT);
    }
    persistTranscript();
  }

  function persistTranscript() {
    try {
      save("localStorage", STORAGE.transcript, JSON.stringify(state.transcript));
    } catch (e) {
      /* a frame that can't be serialised is simply not kept */
    }
  }

  function append(node) {
    var nearBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
    ui.log.appendChild(node);
    if (nearBottom || state.isOpen) scrollToEnd();
    return node;
  }

  /** Shows a new reply from its start: a long card should be read from its title, not from its end. */
  function reveal(row) {
    if (!row || !state.isOpen) return;
    var logBox = ui.log.getBoundingClientRect();
    var rowBox = row.getBoundingClientRect();
    if (rowBox.top < logBox.top) {
      ui.log.scrollTop += rowBox.top - logBox.top - 8;
    }
  }

  function countUnread() {
    if (!state.isOpen) {
      state.unread += 1;
      renderBadge();
    }
  }

  // ---------------------------------------------------------------- rendering

  function botRow(extraClass) {
    var row = el("div", "row bot" + (extraClass ? " " + extraClass : ""));
    row.appendChild(el("span", "sr-only", "助手："));
    return row;
  }

  /** A small time line under a message: HH:MM today, the date too for an older one. */
  function renderTime(row, at) {
    if (typeof at !== "number" || !isFinite(at)) return;
    var date = new Date(at);
    var time = el("time", "", isSameDay(date, new Date()) ? pad2(date.getHours()) + ":" + pad2(date.getMinutes()) : localDateTime(date));
    time.setAttribute("datetime", date.toISOString());
    var meta = el("div", "meta");
    meta.appendChild(time);
    row.appendChild(meta);
  }

  function isSameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  function renderUser(text, at) {
    retireChoices();
    var row = el("div", "row user");
    var sr = el("span", "sr-only", "我：");
    var bubble = el("div", "bubble", text);
    bubble.insertBefore(sr, bubble.firstChild);
    row.appendChild(bubble);
    renderTime(row, at);
    append(row);
    return row;
  }

  /** Once the user has said something after a clarify, its choices are history: they can't be pressed again. */
  function retireChoices() {
    var buttons = ui.log.querySelectorAll('.row.reply[data-mode="clarify"] button.postback:not(:disabled)');
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
  }

  function renderWelcome(frame) {
    var row = botRow("welcome");
    row.appendChild(richEl("div", "bubble", asText(frame.text) || "您好，我是" + config.title + "，请问有什么可以帮您？"));
    append(row);
    renderSuggestions(frame.suggestions);
  }

  function renderReply(frame, rated, at) {
    trackHandoff(frame.handoff);
    if (asText(frame.intent) === "handoff.relayed") return renderRelayHint();
    var row = botRow("reply");
    row.setAttribute("data-reply-id", asText(frame.id));
    row.setAttribute("data-mode", asText(frame.mode));
    var text = bubbleText(asText(frame.text), frame.cards);
    if (text) row.appendChild(richEl("div", "bubble", text));
    var cards = renderCards(frame.cards);
    if (cards) row.appendChild(cards);
    if (frame.id) row.appendChild(renderRating(asText(frame.id), rated));
    renderTime(row, at);
    append(row);
    renderSuggestions(frame.suggestions);
    return row;
  }

  /**
   * The text bubble of a reply, without what the first card shows anyway: the server's text is complete for
   * channels without cards (WeCom), so lines repeating the card's title, body or a field are dropped here.
   */
  function bubbleText(text, cards) {
    var card = Array.isArray(cards) && cards[0] && typeof cards[0] === "object" ? cards[0] : null;
    if (!text || !card) return text;
    var shown = [asText(card.title), asText(card.subtitle), asText(card.body)];
    (Array.isArray(card.fields) ? card.fields : []).forEach(function (f) {
      if (f) shown.push(asText(f.value), asText(f.label) + "：" + asText(f.value), asText(f.label) + ":" + asText(f.value));
    });
    var normalize = function (line) {
      return line.replace(/^[\s【\[·•\-*]+|[\s】\]。]+$/g, "").replace(/\s+/g, " ");
    };
    var known = {};
    shown.forEach(function (x) {
      if (x) known[normalize(x)] = true;
    });
    // "为您找到「…」的办事指南：<summary>" with the summary as the card's body keeps only its lead-in.
    var body = asText(card.body).trim();
    if (body.length >= 12 && text.indexOf(body) >= 0) {
      text = text.replace(body, "").replace(/[：:，,\s]+$/, "");
    }
    var fieldList = Array.isArray(card.fields) ? card.fields : [];
    var kept = text.split("\n").filter(function (line) {
      var n = normalize(line);
      if (!n || known[n]) return false;
      // "「…」的咨询电话：022-…" when the card holds 咨询电话 = "022-…": the card says it.
      return !fieldList.some(function (f) {
        var value = f ? normalize(asText(f.value)) : "";
        return value.length >= 2 && n.slice(-value.length) === value && n.indexOf(asText(f.label)) >= 0;
      });
    });
    return kept.join("\n").trim();
  }

  /** A small neutral line about the conversation itself (logged in, logged out). */
  function renderSystem(text) {
    var node = el("div", "system", text);
    node.setAttribute("role", "status");
    append(node);
  }

  function renderError(frame) {
    var node = el("div", "error", "⚠ " + (asText(frame.message) || "出错了，请稍后再试"));
    node.setAttribute("role", "alert");
    if (frame.code) node.setAttribute("data-code", asText(frame.code));
    append(node);
  }

  // ---------------------------------------------------------------- ratings, quick replies, the stored transcript

  function renderRating(replyId, rated) {
    var box = el("div", "rating");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "这个回答有帮助吗？");
    var up = el("button", "rate up");
    up.appendChild(icon(THUMB_UP_ICON));
    up.type = "button";
    up.setAttribute("aria-label", "有帮助");
    up.title = "有帮助";
    var down = el("button", "rate down");
    down.appendChild(icon(THUMB_DOWN_ICON));
    down.type = "button";
    down.setAttribute("aria-label", "没有帮助");
    down.title = "没有帮助";
    function mark(helpful) {
      up.setAttribute("aria-pressed", helpful === true ? "true" : "false");
      down.setAttribute("aria-pressed", helpful === false ? "true" : "false");
    }
    mark(rated === true || rated === false ? rated : null);
    function choose(helpful) {
      mark(helpful);
      rememberRating(replyId, helpful);
      if (!sendRaw({ type: "rate", reply: replyId, helpful: helpful })) {
        state.outbox.push({ type: "rate", reply: replyId, helpful: helpful });
        ensureConnected();
      }
    }
    up.addEventListener("click", function () {
      choose(true);
    });
    down.addEventListener("click", function () {
      choose(false);
    });
    box.appendChild(up);
    box.appendChild(down);
    return box;
  }

  function rememberRating(replyId, helpful) {
    for (var i = state.transcript.length - 1; i >= 0; i--) {
      var entry = state.transcript[i];
      if (entry.t === "reply" && entry.frame && entry.frame.id === replyId) {
        entry.rated = helpful;
        persistTranscript();
        return;
      }
    }
  }

  function renderSuggestions(suggestions) {
    // Only the latest quick replies stay: older ones would answer a question no longer asked.
    var old = ui.log.querySelectorAll(".chips");
    for (var i = 0; i < old.length; i++) old[i].parentNode.removeChild(old[i]);
    if (!Array.isArray(suggestions) || suggestions.length === 0) return;
    var box = el("div", "chips");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "推荐问题");
    suggestions.forEach(function (s) {
      if (!s || typeof s !== "object") return;
      var label = asText(s.label || s.text);
      if (!label) return;
      var chip = el("button", "chip", label);
      chip.type = "button";
      chip.addEventListener("click", function () {
        if (s.action) postAction(label, asText(s.action), s.args);
        else sendMessage(asText(s.text || s.label));
      });
      box.appendChild(chip);
    });
    if (box.childNodes.length) append(box);
  }

  function renderTranscript() {
    state.transcript.forEach(function (entry) {
      if (entry.t === "user") renderUser(entry.text, entry.at);
      else if (entry.t === "welcome") renderWelcome(entry.frame);
      else if (entry.t === "reply") renderReply(entry.frame, entry.rated, entry.at);
      else if (entry.t === "notice") renderNotice(entry.frame, entry.at);
    });
  }

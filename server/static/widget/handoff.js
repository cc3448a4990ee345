// widget/handoff.js: 转人工 (docs/handoff.md): the banner, the desk's status lines, notices from a person or the bot.
  // ---------------------------------------------------------------- handoff to a person (docs/handoff.md)

  /** Follows the `handoff` of replies and notices: waiting/active shows the banner; a reply without one ends it. */
  function trackHandoff(view) {
    var status = view && typeof view === "object" ? asText(view.status) : "";
    var open = status === "waiting" || status === "active";
    if (open && !state.handoff) state.relayHinted = false;
    var agent = open ? asText(view.agent) || (state.handoff && state.handoff.agent) || "" : "";
    state.handoff = open ? { status: status, agent: agent } : null;
    ui.handoffBar.hidden = !open;
    ui.input.placeholder = open ? "输入消息，将转给人工客服" : "输入问题，如：助学金怎么申请";
    ui.handoffText.textContent = !open
      ? ""
      : status === "waiting"
        ? "正在等待人工客服…"
        : "人工客服" + (agent ? " " + agent + " " : "") + "为您服务";
  }

  /** A message relayed to the person gets no bot bubble: once per handoff, a small hint under the user's own. */
  function renderRelayHint() {
    var users = ui.log.querySelectorAll(".row.user");
    var row = users[users.length - 1];
    if (state.relayHinted || !row) return null;
    state.relayHinted = true;
    (row.querySelector(".meta") || row.appendChild(el("div", "meta"))).appendChild(el("span", "relay-hint", "已转给人工客服"));
    return null;
  }

  /** The desk's own word (taken, handed back, timed out): a centered status line, then its cards if any. */
  function renderHandoffStatus(frame) {
    var line = el("div", "system handoff-status");
    line.setAttribute("role", "status");
    append(appendRich(line, asText(frame.text)));
    var cards = renderCards(frame.cards);
    if (cards) append(botRow("handoff-cards")).appendChild(cards);
    return line;
  }

  /** A notice: a person's words (`from.kind == "agent"`), a handoff status line, or a 新通知. */
  function renderNotice(frame, at) {
    var from = frame.from && typeof frame.from === "object" ? frame.from : null;
    var handoff = frame.handoff && typeof frame.handoff === "object" ? frame.handoff : null;
    if (handoff) trackHandoff(handoff);
    if (handoff && !from) return renderHandoffStatus(frame);
    var agent = from && from.kind === "agent";
    var row = agent ? el("div", "row agent") : botRow("notice");
    row.setAttribute("role", "status");
    var bubble = el("div", "bubble");
    var label = agent ? "人工客服" + (asText(from.name) ? " · " + asText(from.name) : "") : "新通知";
    bubble.appendChild(el("span", agent ? "agent-label" : "notice-label", label));
    appendRich(bubble, asText(frame.text));
    row.appendChild(bubble);
    var cards = renderCards(frame.cards);
    if (cards) row.appendChild(cards);
    renderTime(row, at);
    append(row);
    return row;
  }

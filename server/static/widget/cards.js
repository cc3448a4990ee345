// widget/cards.js: the cards of replies and notices: title, body, fields behind 展开, nested items, buttons, links.
  // ---------------------------------------------------------------- cards

  function renderCards(cards) {
    if (!Array.isArray(cards) || cards.length === 0) return null;
    var box = el("div", "cards");
    cards.forEach(function (card) {
      if (card && typeof card === "object") box.appendChild(renderCard(card, 0));
    });
    return box;
  }

  function renderCard(card, depth) {
    var kind = asText(card.kind);
    var node = el("article", "card " + (KIND_LABELS[kind] ? kind : "other"));
    node.setAttribute("data-kind", kind);
    if (card.id) node.setAttribute("data-card-id", asText(card.id));
    if (depth === 0 && KIND_LABELS[kind]) node.appendChild(el("span", "kind", KIND_LABELS[kind]));
    var title = el(depth === 0 ? "h3" : "h4", "title", asText(card.title));
    if (depth > 0) title.style.cssText = "margin:0;font-size:14px;font-weight:600;";
    node.appendChild(title);
    if (card.subtitle) node.appendChild(richEl("p", "subtitle", asText(card.subtitle)));
    if (card.body) node.appendChild(renderClamped("div", "body", asText(card.body)));

    var fields = Array.isArray(card.fields)
      ? card.fields.filter(function (f) {
          return f && typeof f === "object";
        })
      : [];
    if (fields.length) {
      // Compact: the first fields (the server puts the key ones, or only the asked ones, first); 展开 for the rest.
      var dl = el("dl", "fields");
      var extra = [];
      fields.forEach(function (field, index) {
        var dt = el("dt", "", asText(field.label));
        var dd = renderFieldValue(asText(field.value));
        if (index >= COMPACT_FIELDS && fields.length > COMPACT_FIELDS + 1) {
          dt.hidden = dd.hidden = true;
          dt.className = dd.className = "extra";
          extra.push(dt, dd);
        }
        dl.appendChild(dt);
        dl.appendChild(dd);
      });
      node.appendChild(dl);
      if (extra.length) {
        var hiddenCount = extra.length / 2;
        var more = el("button", "fields-more", "展开其余 " + hiddenCount + " 项");
        more.type = "button";
        more.setAttribute("aria-expanded", "false");
        more.addEventListener("click", function () {
          var open = more.getAttribute("aria-expanded") !== "true";
          extra.forEach(function (n) {
            n.hidden = !open;
          });
          more.textContent = open ? "收起" : "展开其余 " + hiddenCount + " 项";
          more.setAttribute("aria-expanded", open ? "true" : "false");
        });
        node.appendChild(more);
      }
    }

    if (Array.isArray(card.items) && card.items.length && depth < MAX_CARD_DEPTH) {
      var items = el("div", "items");
      card.items.forEach(function (item) {
        if (item && typeof item === "object") items.appendChild(renderCard(item, depth + 1));
      });
      node.appendChild(items);
    }

    var actions = renderActions(card.actions, kind === "login", card);
    if (actions) node.appendChild(actions);
    return node;
  }

  /** A long text (a card's body) clamped to a few lines with a 展开 toggle. */
  function renderClamped(tag, className, value) {
    var box = el(tag, className);
    var dd = renderFieldValue(value);
    while (dd.firstChild) box.appendChild(dd.firstChild);
    return box;
  }

  /** A field's value; a long one (办理须知, say) is clamped to a few lines with a 展开 toggle. */
  function renderFieldValue(value) {
    var dd = el("dd");
    var text = richEl("span", "value", value);
    dd.appendChild(text);
    if (value.length > LONG_FIELD_CHARS || value.split("\n").length > 4) {
      text.classList.add("clamped");
      var toggle = el("button", "more", "展开");
      toggle.type = "button";
      toggle.setAttribute("aria-expanded", "false");
      toggle.addEventListener("click", function () {
        var open = text.classList.toggle("clamped") === false;
        toggle.textContent = open ? "收起" : "展开";
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
      });
      dd.appendChild(toggle);
    }
    return dd;
  }

  // Buttons whose label says nothing once echoed as the user's turn: the item's name is echoed instead.
  var GENERIC_CHOICES = { 就是这个: true, 是这个: true, 选这个: true, 查看: true, 详情: true, 查看详情: true };

  function renderActions(actions, isLogin, card) {
    if (!Array.isArray(actions) || actions.length === 0) return null;
    var row = el("div", "actions");
    var first = true;
    actions.forEach(function (action) {
      if (!action || typeof action !== "object") return;
      var label = asText(action.label);
      var button;
      if (action.type === "open_url") {
        var href = safeUrl(action.url);
        if (!href) return;
        // A real link: new tab, keyboard and screen-reader friendly, and not caught by popup blockers.
        button = el("a", "btn open-url", isLogin ? label || "登录" : label || "打开");
        button.href = href;
        button.target = "_blank";
        // Our own login page may post the token back to this window (see the "message" listener below).
        button.rel = isLogin && isServerUrl(href) ? "opener" : "noopener noreferrer";
        if (isLogin) button.className += " primary login";
        else if (first) button.className += " primary";
        button.setAttribute("aria-label", button.textContent + "（在新窗口打开）");
        var path = isServerUrl(href) ? new URL(href).pathname : "";
        if (path === "/auth/logout") {
          button.addEventListener("click", function (event) {
            event.preventDefault();
            logout();
          });
        } else if (path === "/auth/login") {
          button.addEventListener("click", function (event) {
            if (startLogin(href)) event.preventDefault(); // else the plain link opens the login as before
          });
        }
      } else if (action.type === "action" && action.action) {
        button = el("button", "btn postback", label || "确定");
        button.type = "button";
        if (first) button.className += " primary";
        button.addEventListener("click", function () {
          var echo = GENERIC_CHOICES[label] && card && card.title ? asText(card.title) : label;
          var reply = button.closest(".row.reply");
          if (reply && reply.getAttribute("data-mode") === "clarify") button.classList.add("chosen");
          postAction(echo, asText(action.action), action.args);
        });
      } else {
        return; // An action type this widget does not know.
      }
      first = false;
      row.appendChild(button);
    });
    return row.childNodes.length ? row : null;
  }

// widget/dom.js: DOM and text helpers: textContent-only elements, tap-to-call numbers, local times, safe URLs.
  // ---------------------------------------------------------------- DOM helpers

  function icon(pathData) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", pathData);
    svg.appendChild(path);
    return svg;
  }

  // Chinese mobile numbers, landlines with an area code (022-26675xxx), and 400/800 hotlines.
  var PHONE_RE = /(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)|0\d{2,3}[- ]?\d{7,8}(?!\d)|[48]00[- ]?\d{3}[- ]?\d{4}(?!\d)/g;
  // ISO 8601 instants with a zone (2026-12-03T07:53:34Z, …+00:00): shown in the reader's local time.
  var INSTANT_RE = /\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}|\s?UTC)(?![\w:])/g;

  function pad2(n) {
    return (n < 10 ? "0" : "") + n;
  }

  /** A local date and time, e.g. 2026-12-03 15:53. */
  function localDateTime(date) {
    return (
      date.getFullYear() + "-" + pad2(date.getMonth() + 1) + "-" + pad2(date.getDate()) + " " +
      pad2(date.getHours()) + ":" + pad2(date.getMinutes())
    );
  }

  /** Rewrites zoned ISO timestamps in a text into local time; anything unparsable stays as it was. */
  function localizeInstants(text) {
    return text.replace(INSTANT_RE, function (raw) {
      var iso = raw.replace(" UTC", "Z").replace("UTC", "Z").replace(" ", "T");
      var date = new Date(iso);
      return isNaN(date.getTime()) ? raw : localDateTime(date);
    });
  }

  /** Appends `text` to `parent` as text nodes, with phone numbers as tap-to-call links. */
  function appendRich(parent, text) {
    text = localizeInstants(asText(text));
    var last = 0;
    PHONE_RE.lastIndex = 0;
    var match;
    while ((match = PHONE_RE.exec(text))) {
      if (match.index > 0 && /[\d\w]/.test(text.charAt(match.index - 1))) continue; // part of a longer number
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      var link = el("a", "tel", match[0]);
      link.href = "tel:" + match[0].replace(/[^\d+]/g, "");
      parent.appendChild(link);
      last = match.index + match[0].length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
    return parent;
  }

  /** An element holding bot text: phone numbers callable, instants in local time, never markup. */
  function richEl(tag, className, text) {
    return appendRich(el(tag, className), text);
  }

  /** Creates an element; `text` is always set through textContent. */
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null && text !== "") node.textContent = String(text);
    return node;
  }

  function asText(value) {
    return typeof value === "string" ? value : value === undefined || value === null ? "" : String(value);
  }

  function serverOrigin() {
    try {
      return new URL(config.server + "/", location.href).origin;
    } catch (e) {
      return location.origin;
    }
  }

  function isServerUrl(href) {
    try {
      return new URL(href).origin === serverOrigin();
    } catch (e) {
      return false;
    }
  }

  /** Only http(s) links are opened; anything else (javascript:, data:) is refused. */
  function safeUrl(raw) {
    try {
      var url = new URL(asText(raw), config.server + "/");
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  var idCounter = 0;
  function newId(prefix) {
    idCounter += 1;
    return prefix + Date.now().toString(36) + idCounter.toString(36);
  }

/* Helpers shared by the lead form and the admin page. No innerHTML anywhere: every piece of
   data reaches the page through textContent, so a lead named "<img onerror=...>" is just text. */
(function () {
  "use strict";

  var JSON_TYPES = /^application\/(?:[\w.+-]+\+)?json\b/i;

  /** Parse a response body as JSON when it says it is JSON; otherwise null. */
  function readJson(response) {
    var type = response.headers.get("Content-Type") || "";
    if (!JSON_TYPES.test(type)) {
      return Promise.resolve(null);
    }
    return response.json().catch(function () {
      return null;
    });
  }

  /** Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or null. */
  function retryAfterSeconds(response) {
    var value = (response.headers.get("Retry-After") || "").trim();
    if (!value) {
      return null;
    }
    if (/^\d+$/.test(value)) {
      return parseInt(value, 10);
    }
    var when = Date.parse(value);
    if (isNaN(when)) {
      return null;
    }
    return Math.max(0, Math.ceil((when - Date.now()) / 1000));
  }

  /** "a moment", "1 second", "45 seconds", "2 minutes". */
  function describeWait(seconds) {
    if (seconds === null || seconds <= 0) {
      return "a moment";
    }
    if (seconds < 120) {
      return seconds === 1 ? "1 second" : seconds + " seconds";
    }
    return Math.ceil(seconds / 60) + " minutes";
  }

  /** The server's own explanation, if the problem document has one. */
  function detailOf(problem) {
    return problem && typeof problem.detail === "string" ? problem.detail.trim() : "";
  }

  /** A plain-words explanation of a response that is not a field error: {title, detail}. */
  function describeProblem(response, problem) {
    var detail = detailOf(problem);
    var wait = describeWait(retryAfterSeconds(response));
    switch (response.status) {
      case 400:
        return { title: "The request could not be read by the server.", detail: detail };
      case 401:
        return { title: "The API key is wrong or has been revoked.", detail: detail };
      case 403:
        return { title: "This request was refused.", detail: detail };
      case 404:
        return { title: "It was not found; it may have been erased already.", detail: detail };
      case 413:
        return {
          title: "What you entered is too long to send. Please shorten it and try again.",
          detail: detail
        };
      case 415:
        return { title: "The request was sent in a format the server does not accept.", detail: detail };
      case 429:
        return {
          title: "Too many attempts. Please wait " + wait + " and try again.",
          detail: detail
        };
      case 503:
        return {
          title: "The service is temporarily unavailable. Please try again in " + wait + ".",
          detail: detail
        };
      case 500:
        return { title: "Something went wrong on our side. Please try again later.", detail: detail };
      default:
        return {
          title: "Unexpected answer from the server (status " + response.status + ").",
          detail: detail
        };
    }
  }

  /** The message shown when fetch itself fails (offline, server down). */
  var NETWORK_PROBLEM = {
    title: "Could not reach the server. Check your connection and try again.",
    detail: ""
  };

  /** Create an element with a class and text content. */
  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  /** Remove every child of a node. */
  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  /**
   * Show a message in a live region: kind is "error", "success" or "info"; lines are extra
   * paragraphs (strings). An empty title empties the region.
   */
  function showNotice(region, kind, title, lines) {
    clear(region);
    if (!title) {
      return;
    }
    var box = element("div", "notice notice-" + kind);
    box.appendChild(element("p", "notice-title", title));
    (lines || []).forEach(function (line) {
      if (line) {
        box.appendChild(element("p", "notice-line", line));
      }
    });
    region.appendChild(box);
  }

  /** An RFC 3339 timestamp as "2026-11-26 21:15 UTC" (stable whatever the browser's zone). */
  function formatTimestamp(value) {
    var when = new Date(value);
    if (isNaN(when.getTime())) {
      return String(value || "");
    }
    return when.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  window.LeadApp = Object.freeze({
    readJson: readJson,
    retryAfterSeconds: retryAfterSeconds,
    describeProblem: describeProblem,
    NETWORK_PROBLEM: NETWORK_PROBLEM,
    element: element,
    clear: clear,
    showNotice: showNotice,
    formatTimestamp: formatTimestamp
  });
})();

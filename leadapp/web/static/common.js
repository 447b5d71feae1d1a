/* Helpers shared by the lead form and the admin page (the API key and the calls made with it
   too: admin.js and admin-overview.js both use them). No innerHTML anywhere: every piece of
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

  // The admin page's API key lives in this tab's sessionStorage only: never localStorage,
  // never a cookie, so it is gone when the tab closes.
  var STORAGE_KEY = "leadapp.apiKey";

  /** The API key for this tab, or null. */
  function storedKey() {
    try {
      return window.sessionStorage.getItem(STORAGE_KEY);
    } catch (error) {
      return null;
    }
  }

  /** Keep (or, with no key, drop) the API key for this tab. */
  function storeKey(key) {
    if (key) {
      window.sessionStorage.setItem(STORAGE_KEY, key);
    } else {
      window.sessionStorage.removeItem(STORAGE_KEY);
    }
  }

  /**
   * Call the API with this tab's key (never a cookie, never a cached answer): resolves to the
   * Response, whatever its status, or rejects when there is no key or the network fails.
   * options: method (GET), accept (application/json), json (a value sent as the JSON body).
   */
  function fetchWithKey(path, options) {
    var key = storedKey();
    if (!key) {
      return Promise.reject(new Error("No API key."));
    }
    var headers = {
      Authorization: "Bearer " + key,
      Accept: (options && options.accept) || "application/json"
    };
    var init = {
      method: (options && options.method) || "GET",
      headers: headers,
      credentials: "omit",
      cache: "no-store"
    };
    if (options && options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.json);
    }
    return fetch(path, init);
  }

  /**
   * The JSON body of a successful response when valid(body) holds; otherwise rejects with the
   * plain-words title of the problem.
   */
  function expectJson(response, valid) {
    return readJson(response).then(function (data) {
      if (!response.ok || !data || !valid(data)) {
        throw new Error(describeProblem(response, data).title);
      }
      return data;
    });
  }

  /**
   * Make a section of the admin page follow the leads section: shown (then show() runs) when
   * the leads are, hidden (then hide() runs) when they are not, i.e. while no key is accepted.
   */
  function followLeads(section, show, hide) {
    var leadsSection = document.getElementById("leads-section");
    function follow() {
      var visible = !leadsSection.hidden;
      if (visible && section.hidden) {
        section.hidden = false;
        show();
      } else if (!visible) {
        section.hidden = true;
        hide();
      }
    }
    new MutationObserver(follow).observe(leadsSection, {
      attributes: true,
      attributeFilter: ["hidden"]
    });
    follow();
  }

  /**
   * A danger button that acts only when pressed twice: the first press turns it into
   * "Really <verb>?" with a Cancel beside it. options: verb ("Erase"), busy ("Erasing…"),
   * cancelled ("Not erased."), name (what it acts on, for screen readers), announce(text)
   * (says it in a polite live region), act() (a Promise of true when done; false puts the
   * button back). Returns the node holding both buttons.
   */
  function confirmButton(options) {
    var verb = options.verb;
    var button = element("button", "button button-danger button-small", verb);
    var cancel = element("button", "button button-secondary button-small", "Cancel");
    button.type = "button";
    cancel.type = "button";
    cancel.hidden = true;
    button.setAttribute("aria-label", verb + " " + options.name);

    function reset() {
      button.dataset.confirm = "";
      button.textContent = verb;
      button.setAttribute("aria-label", verb + " " + options.name);
      button.classList.remove("button-confirm");
      cancel.hidden = true;
    }

    button.addEventListener("click", function () {
      var question = "Really " + verb.toLowerCase() + "?";
      if (button.dataset.confirm !== "yes") {
        button.dataset.confirm = "yes";
        button.textContent = question;
        button.setAttribute("aria-label", "Really " + verb.toLowerCase() + " " + options.name + "?");
        button.classList.add("button-confirm");
        cancel.hidden = false;
        options.announce(
          "Press " + question + " again to " + verb.toLowerCase() + " " + options.name + "."
        );
        return;
      }
      button.disabled = true;
      cancel.disabled = true;
      button.textContent = options.busy;
      options.act().then(function (done) {
        if (!done) {
          button.disabled = false;
          cancel.disabled = false;
          reset();
        }
      });
    });
    cancel.addEventListener("click", function () {
      reset();
      options.announce(options.cancelled);
      button.focus();
    });
    button.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.dataset.confirm === "yes") {
        reset();
      }
    });
    var inner = element("div", "row-actions-inner");
    inner.appendChild(button);
    inner.appendChild(cancel);
    return inner;
  }

  window.LeadApp = Object.freeze({
    readJson: readJson,
    expectJson: expectJson,
    retryAfterSeconds: retryAfterSeconds,
    describeProblem: describeProblem,
    NETWORK_PROBLEM: NETWORK_PROBLEM,
    element: element,
    clear: clear,
    showNotice: showNotice,
    formatTimestamp: formatTimestamp,
    storedKey: storedKey,
    storeKey: storeKey,
    fetchWithKey: fetchWithKey,
    followLeads: followLeads,
    confirmButton: confirmButton
  });
})();

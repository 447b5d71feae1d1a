/* The admin page's webhook section: endpoints and recent failed deliveries, read-only.
   It shows whenever the leads do (the key was accepted) and uses the same tab-only key. */
(function () {
  "use strict";

  var L = window.LeadApp;
  var STORAGE_KEY = "leadapp.apiKey";
  var FAILED_LIMIT = 20;

  var leadsSection = document.getElementById("leads-section");
  var section = document.getElementById("webhooks-section");
  var refresh = document.getElementById("webhooks-refresh");
  var errorLine = document.getElementById("webhooks-error");
  var endpointsBody = document.getElementById("endpoints-body");
  var endpointsEmpty = document.getElementById("endpoints-empty");
  var failedBody = document.getElementById("failed-body");
  var failedEmpty = document.getElementById("failed-empty");
  var generation = 0;

  /** The key for this tab, or null. */
  function storedKey() {
    try {
      return window.sessionStorage.getItem(STORAGE_KEY);
    } catch (error) {
      return null;
    }
  }

  /** GET an admin endpoint; resolves to the parsed JSON, or rejects with a message. */
  function get(path) {
    var key = storedKey();
    if (!key) {
      return Promise.reject(new Error("No API key."));
    }
    return fetch(path, {
      headers: { Authorization: "Bearer " + key, Accept: "application/json" },
      credentials: "omit",
      cache: "no-store"
    }).then(function (response) {
      return L.readJson(response).then(function (data) {
        if (!response.ok || !data || !Array.isArray(data.items)) {
          throw new Error(L.describeProblem(response, data).title);
        }
        return data.items;
      });
    });
  }

  /** One table cell with a label for the narrow (stacked) layout. */
  function cell(label, text, className) {
    var td = L.element("td", className || null, text);
    td.setAttribute("data-label", label);
    return td;
  }

  /** A cell holding a <time>. */
  function timeCell(label, value) {
    var td = cell(label, "");
    var time = L.element("time", null, L.formatTimestamp(value));
    time.dateTime = value;
    td.appendChild(time);
    return td;
  }

  /** Fill the endpoints table. */
  function renderEndpoints(items) {
    L.clear(endpointsBody);
    items.forEach(function (endpoint) {
      var tr = document.createElement("tr");
      tr.appendChild(cell("URL", endpoint.url, "mono"));
      tr.appendChild(cell("Events", endpoint.events.join(", ")));
      tr.appendChild(timeCell("Created", endpoint.created_at));
      endpointsBody.appendChild(tr);
    });
    endpointsEmpty.hidden = items.length > 0;
  }

  /** Fill the failed-deliveries table. */
  function renderFailed(items) {
    L.clear(failedBody);
    items.forEach(function (delivery) {
      var tr = document.createElement("tr");
      var last = delivery.last_error || (delivery.last_status ? "HTTP " + delivery.last_status : "—");
      tr.appendChild(timeCell("Created", delivery.created_at));
      tr.appendChild(cell("Event", delivery.event));
      tr.appendChild(cell("Lead", delivery.lead_id, "mono"));
      tr.appendChild(cell("Endpoint", delivery.endpoint_url, "mono"));
      tr.appendChild(cell("Attempts", String(delivery.attempts)));
      tr.appendChild(cell("Last result", last));
      failedBody.appendChild(tr);
    });
    failedEmpty.hidden = items.length > 0;
  }

  /** Fetch both lists and show them. */
  function load() {
    var mine = ++generation;
    errorLine.hidden = true;
    return Promise.all([
      get("/webhooks"),
      get("/webhooks/deliveries?status=failed&limit=" + FAILED_LIMIT)
    ])
      .then(function (results) {
        if (mine !== generation) {
          return;
        }
        renderEndpoints(results[0]);
        renderFailed(results[1]);
      })
      .catch(function (error) {
        if (mine !== generation) {
          return;
        }
        errorLine.textContent = "Webhooks could not be loaded: " + error.message;
        errorLine.hidden = false;
      });
  }

  /** Follow the leads section: shown (and loaded) when it is, hidden when it is not. */
  function follow() {
    var visible = !leadsSection.hidden;
    if (visible && section.hidden) {
      section.hidden = false;
      load();
    } else if (!visible) {
      section.hidden = true;
      L.clear(endpointsBody);
      L.clear(failedBody);
    }
  }

  refresh.addEventListener("click", load);
  new MutationObserver(follow).observe(leadsSection, {
    attributes: true,
    attributeFilter: ["hidden"]
  });
  follow();
})();

/* The admin page: an API key kept in sessionStorage only, leads page by page, find, erase. */
(function () {
  "use strict";

  var L = window.LeadApp;
  var UNAUTHORIZED = "The API key is wrong or has been revoked. Enter another key.";

  var alertRegion = document.getElementById("admin-alert");
  var statusRegion = document.getElementById("admin-status");
  // For screen readers only: a visible message here would move the button about to be pressed.
  var announceRegion = document.getElementById("admin-announce");
  var keySection = document.getElementById("key-section");
  var keyForm = document.getElementById("key-form");
  var keyInput = document.getElementById("api-key");
  var keyError = document.getElementById("api-key-error");
  var forgetButton = document.getElementById("forget-key");
  var leadsSection = document.getElementById("leads-section");
  var leadsTitle = document.getElementById("leads-title");
  var table = document.getElementById("leads-table");
  var tbody = document.getElementById("leads-body");
  var empty = document.getElementById("leads-empty");
  var searchForm = document.getElementById("search-form");
  var searchBy = document.getElementById("search-by");
  var searchValue = document.getElementById("search-value");
  var searchClear = document.getElementById("search-clear");
  var pageSize = document.getElementById("page-size");
  // Its options are the forms, filled in by admin-forms.js.
  var formFilter = document.getElementById("form-filter");
  var prevButton = document.getElementById("prev-page");
  var nextButton = document.getElementById("next-page");
  var pageLabel = document.getElementById("page-label");

  // cursors[i] is the cursor that fetched page i + 1 (null for the first page).
  var cursors = [null];
  var nextCursor = null;
  var search = null;
  var loading = false;
  // Each load gets a number; an answer to anything but the latest load is ignored, so a slow
  // page cannot overwrite the results of a search typed after it.
  var generation = 0;

  /** Show the key form (with an optional error at the top) instead of the leads. */
  function askForKey(message) {
    document.body.classList.add("signed-out");
    leadsSection.hidden = true;
    forgetButton.hidden = true;
    keySection.hidden = false;
    L.clear(tbody);
    keyInput.value = "";
    L.showNotice(alertRegion, "error", message || "");
    keyInput.focus();
  }

  /** The key was refused: forget it and ask for another. */
  function unauthorized() {
    L.storeKey(null);
    L.showNotice(statusRegion, "info", "");
    askForKey(UNAUTHORIZED);
  }

  /** Show the problem of a failed response at the top (field messages included). */
  function showProblem(response, problem) {
    if (problem && problem.errors && (response.status === 422 || response.status === 400)) {
      var lines = [];
      Object.keys(problem.errors).forEach(function (field) {
        [].concat(problem.errors[field]).forEach(function (message) {
          lines.push(field + ": " + message);
        });
      });
      L.showNotice(alertRegion, "error", problem.detail || "The request was refused.", lines);
      return;
    }
    var described = L.describeProblem(response, problem);
    L.showNotice(alertRegion, "error", described.title, [described.detail]);
  }

  /** Call the admin API with the key; resolves to {response, data}, or null after a 401. */
  function api(method, path) {
    if (!L.storedKey()) {
      askForKey();
      return Promise.resolve(null);
    }
    return L.fetchWithKey(path, { method: method })
      .then(function (response) {
        if (response.status === 401) {
          unauthorized();
          return null;
        }
        return L.readJson(response).then(function (data) {
          return { response: response, data: data };
        });
      })
      .catch(function () {
        L.showNotice(alertRegion, "error", L.NETWORK_PROBLEM.title);
        return null;
      });
  }

  /** Disable the pager and mark the table busy while a page loads. */
  function setLoading(value) {
    loading = value;
    table.setAttribute("aria-busy", value ? "true" : "false");
    prevButton.disabled = value || cursors.length <= 1;
    nextButton.disabled = value || !nextCursor;
  }

  /** One table cell with a label for the narrow (stacked) layout. */
  function cell(label, text, className) {
    var td = L.element("td", className, text);
    td.setAttribute("data-label", label);
    return td;
  }

  /** The Erase button of a row: a first click asks, a second click erases. */
  function eraseControls(lead, row) {
    var td = L.element("td", "row-actions");
    td.appendChild(
      L.confirmButton({
        verb: "Erase",
        busy: "Erasing…",
        cancelled: "Not erased.",
        name: lead.name,
        announce: function (text) {
          announceRegion.textContent = text;
        },
        act: function () {
          return api("DELETE", "/leads/" + encodeURIComponent(lead.id)).then(function (result) {
            if (!result) {
              return false;
            }
            if (result.response.status === 204 || result.response.status === 404) {
              removeRow(row, lead, result.response.status === 404);
              return true;
            }
            showProblem(result.response, result.data);
            return false;
          });
        }
      })
    );
    return td;
  }

  /** Take an erased lead off the table. */
  function removeRow(row, lead, alreadyGone) {
    row.parentNode.removeChild(row);
    announceRegion.textContent = "";
    L.showNotice(alertRegion, "error", "");
    L.showNotice(
      statusRegion,
      "success",
      alreadyGone ? "That lead had already been erased." : "Erased the lead of " + lead.name + "."
    );
    leadsTitle.focus();
    if (!tbody.rows.length) {
      loadPage();
    }
  }

  /** Where a lead came from: its source, else its utm_source (as statistics group it). */
  function sourceOf(lead) {
    var attribution = lead.attribution || {};
    return attribution.source || attribution.utm_source || "—";
  }

  /** How often the person tried again after this lead was stored, and when last. */
  function resubmissionsCell(lead) {
    var count = lead.resubmissions || 0;
    var td = cell("Resubmissions", String(count), "cell-resubmissions");
    if (count > 0 && lead.last_resubmitted_at) {
      td.appendChild(L.element("span", "hint", " last " + L.formatTimestamp(lead.last_resubmitted_at)));
    }
    return td;
  }

  /** A custom value as text: a checkbox's as yes or no, anything else as sent. */
  function customText(value) {
    if (value === true) {
      return "yes";
    }
    if (value === false) {
      return "no";
    }
    return String(value);
  }

  /** The lead's form (with its opt-in status when the form asks for one) and custom values. */
  function formCell(lead) {
    var td = cell("Form", "", "cell-form");
    var line = L.element("span", "form-slug mono", lead.form || "—");
    td.appendChild(line);
    if (lead.opt_in) {
      var optIn = " opt-in " + lead.opt_in.status;
      if (lead.opt_in.confirmed_at) {
        optIn += " " + L.formatTimestamp(lead.opt_in.confirmed_at);
      }
      td.appendChild(L.element("span", "hint cell-opt-in", optIn));
    }
    var values = lead.fields || {};
    var names = Object.keys(values);
    if (names.length) {
      var list = L.element("dl", "custom-values");
      list.setAttribute("aria-label", "Custom values");
      names.forEach(function (name) {
        list.appendChild(L.element("dt", null, name));
        list.appendChild(L.element("dd", null, customText(values[name])));
      });
      td.appendChild(list);
    }
    return td;
  }

  /** One table row for a lead. */
  function row(lead) {
    var tr = document.createElement("tr");
    tr.dataset.leadId = lead.id;
    tr.appendChild(cell("Name", lead.name, "cell-name"));
    tr.appendChild(cell("Email", lead.email, "cell-email"));
    tr.appendChild(cell("Phone", lead.phone, "cell-phone mono"));
    tr.appendChild(cell("IP", lead.ip_address || "—", "cell-ip mono"));
    var created = cell("Created", "", "cell-created");
    var time = L.element("time", null, L.formatTimestamp(lead.created_at));
    time.dateTime = lead.created_at;
    created.appendChild(time);
    tr.appendChild(created);
    tr.appendChild(cell("Source", sourceOf(lead), "cell-source"));
    tr.appendChild(formCell(lead));
    tr.appendChild(resubmissionsCell(lead));
    tr.appendChild(eraseControls(lead, tr));
    return tr;
  }

  /** Fill the table with one page of leads. */
  function render(items) {
    L.clear(tbody);
    items.forEach(function (lead) {
      tbody.appendChild(row(lead));
    });
    empty.hidden = items.length > 0;
    if (search) {
      empty.textContent = "No lead matches that " + search.by + ".";
    } else {
      empty.textContent = formFilter.value ? "No leads of this form." : "No leads yet.";
    }
    var page = cursors.length;
    pageLabel.textContent = search ? "Search results, page " + page : "Page " + page;
  }

  /** The query string of the current page. */
  function query() {
    var params = new URLSearchParams();
    params.set("limit", pageSize.value);
    var cursor = cursors[cursors.length - 1];
    if (cursor) {
      params.set("cursor", cursor);
    }
    if (search) {
      params.set(search.by, search.value);
    }
    if (formFilter.value) {
      params.set("form", formFilter.value);
    }
    return params.toString();
  }

  /** Fetch and show the current page (the last cursor in the stack). */
  function loadPage() {
    var mine = ++generation;
    setLoading(true);
    return api("GET", "/leads?" + query()).then(function (result) {
      if (mine !== generation) {
        return;
      }
      if (result && result.response.ok && result.data && Array.isArray(result.data.items)) {
        L.showNotice(alertRegion, "error", "");
        document.body.classList.remove("signed-out");
        keySection.hidden = true;
        leadsSection.hidden = false;
        forgetButton.hidden = false;
        nextCursor = result.data.next_cursor || null;
        render(result.data.items);
      } else if (result) {
        nextCursor = null;
        if (cursors.length > 1) {
          cursors.pop();
        }
        if (!result.response.ok) {
          showProblem(result.response, result.data);
        } else {
          L.showNotice(alertRegion, "error", "Unexpected answer from the server.");
        }
      }
      setLoading(false);
    });
  }

  /** Start again from the first page. */
  function firstPage() {
    cursors = [null];
    nextCursor = null;
    return loadPage();
  }

  keyForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var key = keyInput.value.trim();
    if (!key) {
      keyError.textContent = "Please enter an API key.";
      keyError.hidden = false;
      keyInput.setAttribute("aria-invalid", "true");
      keyInput.setAttribute("aria-describedby", "api-key-hint api-key-error");
      keyInput.focus();
      return;
    }
    keyError.hidden = true;
    keyError.textContent = "";
    keyInput.removeAttribute("aria-invalid");
    keyInput.setAttribute("aria-describedby", "api-key-hint");
    L.storeKey(key);
    keyInput.value = "";
    firstPage().then(function () {
      if (!leadsSection.hidden) {
        leadsTitle.focus();
      }
    });
  });

  forgetButton.addEventListener("click", function () {
    L.storeKey(null);
    search = null;
    searchValue.value = "";
    searchClear.hidden = true;
    askForKey();
    L.showNotice(statusRegion, "info", "The API key has been forgotten in this tab.");
  });

  searchBy.addEventListener("change", function () {
    searchValue.placeholder = searchBy.value === "email" ? "ada@example.com" : "+44 20 7946 0958";
  });

  searchForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = searchValue.value.trim();
    if (!value) {
      L.showNotice(alertRegion, "error", "Enter an email address or phone number to find.");
      searchValue.focus();
      return;
    }
    search = { by: searchBy.value, value: value };
    searchClear.hidden = false;
    L.showNotice(statusRegion, "info", "");
    firstPage();
  });

  searchClear.addEventListener("click", function () {
    search = null;
    searchValue.value = "";
    searchClear.hidden = true;
    L.showNotice(statusRegion, "info", "");
    firstPage().then(function () {
      searchValue.focus();
    });
  });

  pageSize.addEventListener("change", function () {
    firstPage();
  });

  formFilter.addEventListener("change", function () {
    firstPage();
  });

  nextButton.addEventListener("click", function () {
    if (!nextCursor || loading) {
      return;
    }
    cursors.push(nextCursor);
    loadPage().then(function () {
      leadsTitle.focus();
    });
  });

  prevButton.addEventListener("click", function () {
    if (cursors.length <= 1 || loading) {
      return;
    }
    cursors.pop();
    loadPage().then(function () {
      leadsTitle.focus();
    });
  });

  if (L.storedKey()) {
    firstPage();
  } else {
    askForKey();
  }
})();

/* The webhook section: endpoints and recent failed deliveries, read-only. It shows whenever
   the leads do (the key was accepted) and uses the same tab-only key. */
(function () {
  "use strict";

  var L = window.LeadApp;
  var FAILED_LIMIT = 20;

  var section = document.getElementById("webhooks-section");
  var refresh = document.getElementById("webhooks-refresh");
  var errorLine = document.getElementById("webhooks-error");
  var endpointsEmpty = document.getElementById("endpoints-empty");
  var failedEmpty = document.getElementById("failed-empty");
  var endpointsBody = table("endpoints", ["URL", "Events", "Created"]);
  var failedBody = table("failed", [
    "Created",
    "Event",
    "Lead",
    "Endpoint",
    "Attempts",
    "Last result"
  ]);
  var generation = 0;

  /** The table `name`-table in `name`-wrap, named by `name`-title, with these columns; its tbody. */
  function table(name, columns) {
    var node = L.element("table", "leads");
    node.id = name + "-table";
    node.setAttribute("aria-labelledby", name + "-title");
    var head = document.createElement("thead");
    var headRow = document.createElement("tr");
    columns.forEach(function (name) {
      var th = L.element("th", null, name);
      th.scope = "col";
      headRow.appendChild(th);
    });
    head.appendChild(headRow);
    node.appendChild(head);
    var body = document.createElement("tbody");
    body.id = name + "-body";
    node.appendChild(body);
    document.getElementById(name + "-wrap").appendChild(node);
    return body;
  }

  /** GET an admin list; resolves to its items, or rejects with a message. */
  function get(path) {
    return L.fetchWithKey(path)
      .then(function (response) {
        return L.expectJson(response, function (data) {
          return Array.isArray(data.items);
        });
      })
      .then(function (data) {
        return data.items;
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

  refresh.addEventListener("click", load);
  L.followLeads(section, load, function () {
    L.clear(endpointsBody);
    L.clear(failedBody);
  });
})();

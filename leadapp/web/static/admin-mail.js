/* The failed mails, beside the failed webhook deliveries: read-only, shown whenever the
   webhook section is, loaded with the same tab-only key and refreshed by its button. */
(function () {
  "use strict";

  var L = window.LeadApp;
  var FAILED_LIMIT = 20;

  // Its own box inside the webhook section, shown and hidden with the leads like it.
  var section = document.getElementById("failed-mails");
  var refresh = document.getElementById("webhooks-refresh");
  var body = document.getElementById("failed-mails-body");
  var empty = document.getElementById("failed-mails-empty");
  var errorLine = document.getElementById("failed-mails-error");
  var generation = 0;

  /** A cell with its label for the narrow (stacked) layout; text only, never HTML. */
  function labelled(label, text, className) {
    var td = L.element("td", className || null, text);
    td.setAttribute("data-label", label);
    return td;
  }

  /** One failed mail as a table row. */
  function mailRow(mail) {
    var tr = document.createElement("tr");
    var created = labelled("Created", "");
    var time = L.element("time", null, L.formatTimestamp(mail.created_at));
    time.dateTime = mail.created_at;
    created.appendChild(time);
    tr.appendChild(created);
    tr.appendChild(labelled("Kind", mail.kind));
    tr.appendChild(labelled("Form", mail.form || "—"));
    tr.appendChild(labelled("Lead", mail.lead_id, "mono"));
    tr.appendChild(labelled("Attempts", String(mail.attempts)));
    tr.appendChild(
      labelled("Last answer", mail.last_error || (mail.last_status ? "SMTP " + mail.last_status : "—"))
    );
    return tr;
  }

  /** Fetch the failed mails and show them. */
  function load() {
    var mine = ++generation;
    errorLine.hidden = true;
    return L.fetchWithKey("/mail/deliveries?status=failed&limit=" + FAILED_LIMIT)
      .then(function (response) {
        return L.expectJson(response, function (data) {
          return Array.isArray(data.items);
        });
      })
      .then(function (data) {
        if (mine !== generation) {
          return;
        }
        L.clear(body);
        data.items.forEach(function (mail) {
          body.appendChild(mailRow(mail));
        });
        empty.hidden = data.items.length > 0;
      })
      .catch(function (error) {
        if (mine !== generation) {
          return;
        }
        errorLine.textContent = "Failed mails could not be loaded: " + error.message;
        errorLine.hidden = false;
      });
  }

  refresh.addEventListener("click", load);
  L.followLeads(section, load, function () {
    L.clear(body);
  });
})();

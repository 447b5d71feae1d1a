/* The lead form: validates the obvious locally, posts JSON to /leads, shows the result. */
(function () {
  "use strict";

  var L = window.LeadApp;
  var FIELDS = ["name", "email", "phone"];
  var FIELD_LABELS = { name: "Name", email: "Email", phone: "Phone", ip_address: "IP address" };

  var form = document.getElementById("lead-form");
  var alertRegion = document.getElementById("form-alert");
  var submit = document.getElementById("submit");
  var success = document.getElementById("lead-success");
  var submitLabel = submit.textContent;
  var busy = false;

  /** The input of a field. */
  function input(field) {
    return document.getElementById(field);
  }

  /** Show (or, with no messages, clear) the messages under one field. */
  function setFieldError(field, messages) {
    var control = input(field);
    var holder = document.getElementById(field + "-error");
    var ids = (control.getAttribute("aria-describedby") || "")
      .split(/\s+/)
      .filter(function (id) {
        return id && id !== holder.id;
      });
    if (messages && messages.length) {
      holder.textContent = messages.join(" ");
      holder.hidden = false;
      control.setAttribute("aria-invalid", "true");
      ids.push(holder.id);
    } else {
      holder.textContent = "";
      holder.hidden = true;
      control.removeAttribute("aria-invalid");
    }
    if (ids.length) {
      control.setAttribute("aria-describedby", ids.join(" "));
    } else {
      control.removeAttribute("aria-describedby");
    }
  }

  /** Clear every field message and the message at the top. */
  function clearErrors() {
    FIELDS.forEach(function (field) {
      setFieldError(field, null);
    });
    L.showNotice(alertRegion, "error", "");
  }

  /** Busy while posting: the button is disabled and says so. */
  function setBusy(value) {
    busy = value;
    submit.disabled = value;
    submit.textContent = value ? "Sending…" : submitLabel;
    form.setAttribute("aria-busy", value ? "true" : "false");
  }

  /** Errors the browser can find without asking the server (the server stays the judge). */
  function localErrors() {
    var errors = {};
    if (!input("name").value.trim()) {
      errors.name = ["Please enter your name."];
    }
    var email = input("email");
    if (!email.value.trim()) {
      errors.email = ["Please enter your email address."];
    } else if (email.validity.typeMismatch) {
      errors.email = ["Please enter a valid email address, like name@example.com."];
    }
    if (!input("phone").value.trim()) {
      errors.phone = ["Please enter your phone number."];
    }
    return errors;
  }

  /** Put each message under its field; anything not about a form field goes to the top. */
  function showFieldErrors(errors, status) {
    var other = [];
    var first = null;
    Object.keys(errors).forEach(function (field) {
      var messages = [].concat(errors[field]).map(String);
      if (FIELDS.indexOf(field) >= 0) {
        setFieldError(field, messages);
      } else {
        var label = FIELD_LABELS[field] || field;
        messages.forEach(function (message) {
          other.push(field === "ip_address" ? message : label + ": " + message);
        });
      }
    });
    FIELDS.forEach(function (field) {
      if (!first && input(field).getAttribute("aria-invalid") === "true") {
        first = input(field);
      }
    });
    var title;
    if (status === 409) {
      title = first
        ? "Some of these details are already registered."
        : "We already have a submission from you.";
    } else {
      title = first ? "Please correct the fields marked below." : "The form could not be sent.";
    }
    L.showNotice(alertRegion, "error", title, other);
    if (first) {
      first.focus();
    }
  }

  /** Replace the form with the lead the server stored. */
  function showSuccess(lead) {
    success.querySelectorAll("[data-lead]").forEach(function (node) {
      var key = node.getAttribute("data-lead");
      var value = lead[key];
      node.textContent = key === "created_at" ? L.formatTimestamp(value) : String(value || "");
    });
    form.hidden = true;
    success.hidden = false;
    success.focus();
  }

  /** Post the form as JSON and show what the server says. */
  function send() {
    var body = {
      name: input("name").value,
      email: input("email").value.trim(),
      phone: input("phone").value.trim()
    };
    setBusy(true);
    return fetch("/leads", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json, application/problem+json"
      },
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store"
    })
      .then(function (response) {
        return L.readJson(response).then(function (data) {
          if (response.status === 201 && data) {
            showSuccess(data);
          } else if ((response.status === 422 || response.status === 409) && data && data.errors) {
            showFieldErrors(data.errors, response.status);
          } else {
            var problem = L.describeProblem(response, data);
            L.showNotice(alertRegion, "error", problem.title, [problem.detail]);
          }
        });
      })
      .catch(function () {
        L.showNotice(alertRegion, "error", L.NETWORK_PROBLEM.title);
      })
      .then(function () {
        setBusy(false);
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) {
      return;
    }
    clearErrors();
    var errors = localErrors();
    if (Object.keys(errors).length) {
      showFieldErrors(errors, 422);
      return;
    }
    send();
  });

  // Editing a field withdraws its message: it no longer describes what is there.
  FIELDS.forEach(function (field) {
    input(field).addEventListener("input", function () {
      if (input(field).getAttribute("aria-invalid") === "true") {
        setFieldError(field, null);
      }
    });
  });
})();

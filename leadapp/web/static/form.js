/* A form's page with JavaScript on (GET /f/<slug>, and / for the default form). The server
   renders a form that works without this script (it posts itself, form-encoded); this script
   sends the same form as JSON instead, shows each error under its field, solves the
   proof-of-work challenge when the form needs it, shows the stored lead, and, shown in a frame
   of a site the form allows, tells that page a lead was stored. What it needs to know the
   server wrote on the form (data-* attributes): it asks for nothing before a post. */
(function () {
  "use strict";

  var L = window.LeadApp;
  var FIELD_LABELS = {
    ip_address: "IP address",
    challenge: "Robot check",
    fields: "Fields",
    "attribution.page_url": "Page address",
    "attribution.referrer": "Previous page"
  };
  // The service's limits (characters) for what the page's address says; longer values are cut
  // (or, for an address, left out) rather than refused, since the visitor did not type them.
  var ATTRIBUTION_MAX = { source: 100 };
  var TEXT_MAX = 200;
  var URL_MAX = 2048;
  var URL_MEMBERS = ["page_url", "referrer"];
  var CUSTOM = "fields.";

  var form = document.getElementById("lead-form");
  var alertRegion = document.getElementById("form-alert");
  var submit = document.getElementById("submit");
  var success = document.getElementById("lead-success");
  var submitLabel = submit.textContent;
  var challengeStatus = document.getElementById("challenge-status");
  var slug = form.getAttribute("data-form");
  var endpoint = form.getAttribute("data-endpoint");
  var challengeOn = form.getAttribute("data-challenge") === "on";
  var frameOrigins = (form.getAttribute("data-frame-origins") || "").split(/\s+/).filter(Boolean);
  // Every control the server reads, by the key its errors come under: name, fields.company.
  var controls = {};
  Array.prototype.forEach.call(form.querySelectorAll("[data-key]"), function (control) {
    controls[control.getAttribute("data-key")] = control;
  });
  var keys = Object.keys(controls);
  var busy = false;
  // One key per page: a retry after a lost answer gets the same lead, not a 409.
  var idempotencyKey = randomKey();

  /** Show (or, with no messages, clear) the messages under one field. */
  function setFieldError(key, messages) {
    var control = controls[key];
    var holder = document.getElementById(control.id + "-error");
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
    keys.forEach(function (key) {
      setFieldError(key, null);
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

  /** 32 random hex characters (getRandomValues works on plain http too). */
  function randomKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map
      .call(bytes, function (b) {
        return (b < 16 ? "0" : "") + b.toString(16);
      })
      .join("");
  }

  /** At most `max` characters (code points, as the server counts them). */
  function cut(value, max) {
    return Array.from(value.trim()).slice(0, max).join("");
  }

  /** An http(s) URL within the limit, or null (file:, too long, ...). */
  function usableUrl(value) {
    if (!value || !/^https?:\/\//i.test(value) || Array.from(value).length > URL_MAX) {
      return null;
    }
    return value;
  }

  /**
   * Where the visitor came from: what the page's own address says (the server put its
   * source, utm_*, page_url and referrer in hidden inputs, as the form sends them without
   * this script), then this page and the previous one for what it does not say.
   */
  function attribution() {
    var result = {};
    Array.prototype.forEach.call(form.querySelectorAll("[data-attribution]"), function (hidden) {
      var name = hidden.getAttribute("data-attribution");
      var value = URL_MEMBERS.indexOf(name) >= 0
        ? usableUrl(hidden.value.trim())
        : cut(hidden.value, ATTRIBUTION_MAX[name] || TEXT_MAX);
      if (value) {
        result[name] = value;
      }
    });
    if (!result.page_url && usableUrl(window.location.href)) {
      result.page_url = window.location.href;
    }
    if (!result.referrer && usableUrl(document.referrer)) {
      result.referrer = document.referrer;
    }
    return result;
  }

  /** The bytes of a hex string. */
  function hexBytes(hex) {
    var bytes = new Uint8Array(hex.length / 2);
    for (var i = 0; i < bytes.length; i++) {
      bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
    }
    return bytes;
  }

  /** Whether a digest equals the wanted bytes. */
  function sameBytes(buffer, wanted) {
    var got = new Uint8Array(buffer);
    for (var i = 0; i < wanted.length; i++) {
      if (got[i] !== wanted[i]) {
        return false;
      }
    }
    return true;
  }

  /**
   * Find n <= maxnumber with SHA-256(salt + n) == challenge, with Web Crypto. Digests are
   * asked for in batches: one at a time would spend most of the time waiting on promises.
   */
  function solveChallenge(challenge) {
    var BATCH = 2000;
    var encoder = new TextEncoder();
    var wanted = hexBytes(challenge.challenge);
    var subtle = window.crypto.subtle;
    function from(start) {
      var end = Math.min(start + BATCH, challenge.maxnumber + 1);
      var digests = [];
      for (var n = start; n < end; n++) {
        digests.push(subtle.digest("SHA-256", encoder.encode(challenge.salt + n)));
      }
      return Promise.all(digests).then(function (results) {
        for (var i = 0; i < results.length; i++) {
          if (sameBytes(results[i], wanted)) {
            return start + i;
          }
        }
        if (end > challenge.maxnumber) {
          throw new Error("no solution");
        }
        return from(end);
      });
    }
    return from(0);
  }

  /** Fetch and solve a challenge; resolves to the `challenge` member of the lead. */
  function provePresence() {
    if (!window.crypto || !window.crypto.subtle) {
      return Promise.reject(
        new Error("This form needs a secure (https) connection to check that you are not a robot.")
      );
    }
    challengeStatus.textContent = "Checking that you are not a robot… this takes a few seconds.";
    var started = Date.now();
    return fetch("/challenge", { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("The robot check could not be started. Please try again.");
        }
        return response.json();
      })
      .then(function (challenge) {
        return solveChallenge(challenge).then(function (number) {
          challengeStatus.textContent =
            "Robot check done in " + ((Date.now() - started) / 1000).toFixed(1) + " s.";
          var payload = {
            algorithm: challenge.algorithm,
            challenge: challenge.challenge,
            number: number,
            salt: challenge.salt,
            signature: challenge.signature
          };
          return window.btoa(JSON.stringify(payload));
        });
      });
  }

  /** Errors the browser can find without asking the server (the server stays the judge). */
  function localErrors() {
    var errors = {};
    if (!controls.name.value.trim()) {
      errors.name = ["Please enter your name."];
    }
    var email = controls.email;
    if (!email.value.trim()) {
      errors.email = ["Please enter your email address."];
    } else if (email.validity.typeMismatch) {
      errors.email = ["Please enter a valid email address, like name@example.com."];
    }
    if (!controls.phone.value.trim()) {
      errors.phone = ["Please enter your phone number."];
    }
    if (controls.consent && !controls.consent.checked) {
      errors.consent = ["Please tick the box to agree, so that we may contact you."];
    }
    keys.forEach(function (key) {
      var control = controls[key];
      if (key.indexOf(CUSTOM) !== 0) {
        return;
      }
      if (control.validity.badInput) {
        errors[key] = ["Please enter a number."];
      } else if (control.required && control.type === "checkbox" && !control.checked) {
        errors[key] = ["Please tick this box."];
      } else if (control.required && !control.value.trim()) {
        errors[key] = ["Please fill this in."];
      }
    });
    return errors;
  }

  /** Put each message under its field; anything not about a form field goes to the top. */
  function showFieldErrors(errors, status) {
    var other = [];
    var first = null;
    Object.keys(errors).forEach(function (key) {
      var messages = [].concat(errors[key]).map(String);
      if (controls[key]) {
        setFieldError(key, messages);
      } else {
        var label = FIELD_LABELS[key] || key;
        messages.forEach(function (message) {
          other.push(key === "ip_address" ? message : label + ": " + message);
        });
      }
    });
    keys.forEach(function (key) {
      if (!first && controls[key].getAttribute("aria-invalid") === "true") {
        first = controls[key];
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

  /** The origin of the page this one is framed by, or null when it is not framed. */
  function parentOrigin() {
    if (window.parent === window) {
      return null;
    }
    var ancestors = window.location.ancestorOrigins;
    if (ancestors && ancestors.length) {
      return ancestors[0];
    }
    try {
      return new URL(document.referrer).origin;
    } catch (error) {
      return null;
    }
  }

  /**
   * Shown in a frame of a site the form allows, tell that page a lead was stored: only to
   * that origin (the browser delivers it to no other), never to "*".
   */
  function tellParent(lead) {
    var origin = parentOrigin();
    if (origin && frameOrigins.indexOf(origin) >= 0) {
      window.parent.postMessage({ type: "leadapp:lead", form: slug, id: lead.id }, origin);
    }
  }

  /** A control's value as the JSON path takes it, or null when it is empty. */
  function valueOf(key, control) {
    if (control.type === "checkbox") {
      return control.checked;
    }
    if (key === "email" || key === "phone") {
      return control.value.trim();
    }
    if (key.indexOf(CUSTOM) !== 0) {
      return control.value;
    }
    var text = control.value.trim();
    if (!text) {
      return null;
    }
    return control.getAttribute("data-type") === "number" ? Number(text) : control.value;
  }

  /** The JSON body of the post from what the form holds. */
  function leadBody() {
    var body = { attribution: attribution() };
    keys.forEach(function (key) {
      var value = valueOf(key, controls[key]);
      if (key.indexOf(CUSTOM) !== 0) {
        body[key] = value;
      } else if (value !== null) {
        body.fields = body.fields || {};
        body.fields[key.slice(CUSTOM.length)] = value;
      }
    });
    // A person never fills the honeypot; whatever is in it goes to the server as it is.
    var trap = document.getElementById("website");
    if (trap.value) {
      body.website = trap.value;
    }
    return body;
  }

  /** Post the form as JSON and show what the server says. */
  function send() {
    var body = leadBody();
    setBusy(true);
    var ready = challengeOn
      ? provePresence().then(function (solution) {
          body.challenge = solution;
        })
      : Promise.resolve();
    return ready
      .then(
        function () {
          return fetch(endpoint, {
            method: "POST",
            headers: {
              "Content-Type": "application/json",
              Accept: "application/json, application/problem+json",
              "Idempotency-Key": idempotencyKey
            },
            body: JSON.stringify(body),
            credentials: "same-origin",
            cache: "no-store"
          }).then(handleAnswer, function () {
            L.showNotice(alertRegion, "error", L.NETWORK_PROBLEM.title);
          });
        },
        function (error) {
          challengeStatus.textContent = "";
          L.showNotice(alertRegion, "error", error.message || L.NETWORK_PROBLEM.title);
        }
      )
      .then(function () {
        setBusy(false);
      });
  }

  /** Show the answer to the post. */
  function handleAnswer(response) {
    return L.readJson(response).then(function (data) {
      if (response.status === 201 && data) {
        showSuccess(data);
        tellParent(data);
      } else if ((response.status === 422 || response.status === 409) && data && data.errors) {
        if (data.errors.challenge) {
          challengeStatus.textContent = "";
        }
        showFieldErrors(data.errors, response.status);
      } else {
        var problem = L.describeProblem(response, data);
        L.showNotice(alertRegion, "error", problem.title, [problem.detail]);
      }
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
  keys.forEach(function (key) {
    var control = controls[key];
    control.addEventListener(control.type === "checkbox" ? "change" : "input", function () {
      if (control.getAttribute("aria-invalid") === "true") {
        setFieldError(key, null);
      }
    });
  });

  // With this script running, the challenge is solved here: the notice that it needs
  // JavaScript is not for this visitor.
  var needsJavaScript = document.getElementById("needs-javascript");
  if (needsJavaScript) {
    needsJavaScript.hidden = true;
  }
})();

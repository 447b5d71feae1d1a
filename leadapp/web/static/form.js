/* The lead form: validates the obvious locally, posts JSON to /leads, shows the result.
   It also sends where the visitor came from (attribution), shows the consent checkbox when
   the service has a consent text, and solves the proof-of-work challenge when it is on. */
(function () {
  "use strict";

  var L = window.LeadApp;
  var FIELDS = ["name", "email", "phone", "consent"];
  var FIELD_LABELS = {
    name: "Name",
    email: "Email",
    phone: "Phone",
    ip_address: "IP address",
    challenge: "Robot check",
    "attribution.page_url": "Page address",
    "attribution.referrer": "Previous page"
  };
  var UTM_PARAMETERS = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
  // The service's limits (characters); longer values are cut rather than refused, since
  // the visitor did not type them.
  var UTM_MAX = 200;
  var URL_MAX = 2048;

  var form = document.getElementById("lead-form");
  var alertRegion = document.getElementById("form-alert");
  var submit = document.getElementById("submit");
  var success = document.getElementById("lead-success");
  var submitLabel = submit.textContent;
  var consentField = document.getElementById("consent-field");
  var challengeStatus = document.getElementById("challenge-status");
  var busy = false;
  var settings = { challenge: false, consent_text: null };
  // One key per page: a retry after a lost answer gets the same lead, not a 409.
  var idempotencyKey = randomKey();

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

  /** Where the visitor came from: utm_* of this page's address, the page, the referrer. */
  function attribution() {
    var result = {};
    var query = new URLSearchParams(window.location.search);
    UTM_PARAMETERS.forEach(function (name) {
      var value = query.get(name);
      if (value && value.trim()) {
        result[name] = cut(value, UTM_MAX);
      }
    });
    var page = usableUrl(window.location.href);
    if (page) {
      result.page_url = page;
    }
    var referrer = usableUrl(document.referrer);
    if (referrer) {
      result.referrer = referrer;
    }
    return result;
  }

  /** Apply GET /form-settings: the consent checkbox and its text. */
  function applySettings(loaded) {
    settings = loaded;
    if (settings.consent_text) {
      document.getElementById("consent-label").textContent = settings.consent_text;
      input("consent").required = true;
      consentField.hidden = false;
    }
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
    if (settings.consent_text && !input("consent").checked) {
      errors.consent = ["Please tick the box to agree, so that we may contact you."];
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

  /** The JSON body of POST /leads from what the form holds. */
  function leadBody() {
    var body = {
      name: input("name").value,
      email: input("email").value.trim(),
      phone: input("phone").value.trim(),
      attribution: attribution()
    };
    if (settings.consent_text) {
      body.consent = input("consent").checked;
    }
    // A person never fills the honeypot; whatever is in it goes to the server as it is.
    if (input("website").value) {
      body.website = input("website").value;
    }
    return body;
  }

  /** Post the form as JSON and show what the server says. */
  function send() {
    var body = leadBody();
    setBusy(true);
    var ready = settings.challenge
      ? provePresence().then(function (solution) {
          body.challenge = solution;
        })
      : Promise.resolve();
    return ready
      .then(
        function () {
          return fetch("/leads", {
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

  /** Show the answer to POST /leads. */
  function handleAnswer(response) {
    return L.readJson(response).then(function (data) {
      if (response.status === 201 && data) {
        showSuccess(data);
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
  FIELDS.forEach(function (field) {
    input(field).addEventListener(field === "consent" ? "change" : "input", function () {
      if (input(field).getAttribute("aria-invalid") === "true") {
        setFieldError(field, null);
      }
    });
  });

  // Until the settings arrive the form works as if there were no checkbox and no
  // challenge; the server still says what is missing.
  fetch("/form-settings", { cache: "no-store", credentials: "same-origin" })
    .then(function (response) {
      return response.ok ? response.json() : null;
    })
    .then(function (loaded) {
      if (loaded) {
        applySettings(loaded);
      }
    })
    .catch(function () {});
})();

/* The admin page's embed snippets of a form: an <iframe> of its hosted page, and a plain-HTML
   <form> that posts to it with no JavaScript, both with absolute addresses (LEADAPP_PUBLIC_URL
   from GET /forms, or this page's own origin), ready to copy. admin-forms.js shows them for the
   form open in its editor. The snippets are text in read-only text areas, never markup of
   this page; every value in them is HTML-escaped. */
(function () {
  "use strict";

  var L = window.LeadApp;
  // The hosted page's English texts for the labels a form does not set (api/hosted.py LABELS).
  var LABELS = {
    name: "Full name",
    email: "Email address",
    phone: "Phone number",
    submit: "Send my details"
  };
  var INPUT_TYPES = { text: "text", number: "number", date: "date", url: "url" };
  var FRAME_HEIGHT = 640;
  var FIELD_HEIGHT = 90;

  var fieldset = document.getElementById("form-embed");
  var frameSnippet = document.getElementById("embed-iframe");
  var formSnippet = document.getElementById("embed-form");
  var challengeNote = document.getElementById("embed-form-note");
  var status = document.getElementById("embed-status");
  var shown = 0;

  /** Text made safe inside HTML text and double-quoted attributes. */
  function escape(text) {
    return String(text)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }

  /** `required` for a required field, else nothing. */
  function required(definition) {
    return definition.required ? " required" : "";
  }

  /** The lines of one custom field's control in the plain form. */
  function customLines(definition) {
    var name = escape(definition.name);
    var label = escape(definition.label);
    if (definition.type === "checkbox") {
      return ['  <label><input type="checkbox" name="' + name + '" value="on"' +
        required(definition) + "> " + label + "</label>"];
    }
    if (definition.type === "textarea") {
      return ["  <label>" + label + ' <textarea name="' + name + '"' + required(definition) +
        "></textarea></label>"];
    }
    if (definition.type === "select") {
      var lines = ["  <label>" + label + ' <select name="' + name + '"' + required(definition) + ">",
        '    <option value="">Choose…</option>'];
      definition.options.forEach(function (option) {
        lines.push("    <option>" + escape(option) + "</option>");
      });
      return lines.concat(["  </select></label>"]);
    }
    var step = definition.type === "number" ? ' step="any"' : "";
    return ["  <label>" + label + ' <input type="' + INPUT_TYPES[definition.type] + '" name="' +
      name + '"' + step + required(definition) + "></label>"];
  }

  /** The plain-HTML form: every member the no-JavaScript path reads, and the honeypot. */
  function plainForm(action, settings) {
    var labels = settings.labels || {};
    function text(member) {
      return escape(labels[member] || LABELS[member]);
    }
    var lines = [
      '<form method="post" action="' + escape(action) + '" accept-charset="UTF-8">',
      "  <label>" + text("name") + ' <input name="name" autocomplete="name" required></label>',
      "  <label>" + text("email") +
        ' <input type="email" name="email" autocomplete="email" required></label>',
      "  <label>" + text("phone") +
        ' <input type="tel" name="phone" autocomplete="tel" required></label>'
    ];
    settings.fields.forEach(function (definition) {
      lines = lines.concat(customLines(definition));
    });
    if (settings.consent_text) {
      lines.push('  <label><input type="checkbox" name="consent" value="on" required> ' +
        escape(settings.consent_text) + "</label>");
    }
    lines.push(
      "  <!-- Leave this empty and hidden: only robots fill it in. -->",
      '  <div aria-hidden="true" style="position:absolute;left:-10000px">' +
        '<input name="website" tabindex="-1" autocomplete="off"></div>',
      '  <button type="submit">' + text("submit") + "</button>",
      "</form>"
    );
    return lines.join("\n");
  }

  /** The <iframe> of the hosted page, tall enough for its fields. */
  function frame(page, settings) {
    var height = FRAME_HEIGHT + FIELD_HEIGHT * settings.fields.length;
    return '<iframe src="' + escape(page) + '" title="' + escape(settings.title) +
      '" width="100%" height="' + height + '" style="border:0"></iframe>';
  }

  /** Show the snippets of a stored form; `base` is LEADAPP_PUBLIC_URL or null. */
  function show(slug, base) {
    var mine = ++shown;
    var page = (base || window.location.origin) + "/f/" + encodeURIComponent(slug);
    return fetch("/f/" + encodeURIComponent(slug) + "/settings", { cache: "no-store" })
      .then(function (response) {
        return L.expectJson(response, function (data) {
          return Array.isArray(data.fields);
        });
      })
      .then(function (settings) {
        if (mine !== shown) {
          return;
        }
        frameSnippet.value = frame(page, settings);
        formSnippet.value = plainForm(page, settings);
        challengeNote.hidden = !settings.challenge;
        L.showNotice(status, "info", "");
        fieldset.hidden = false;
      })
      .catch(function (error) {
        if (mine === shown) {
          L.showNotice(status, "error", "The snippets could not be made: " + error.message);
          fieldset.hidden = false;
        }
      });
  }

  /** Hide the snippets (a new form has none until it is saved). */
  function hide() {
    shown++;
    fieldset.hidden = true;
  }

  /** Copy a snippet: the clipboard where the browser allows it, else select it for Ctrl+C. */
  function copy(area, what) {
    area.focus();
    area.select();
    var done = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(area.value)
      : Promise.reject(new Error("no clipboard"));
    done.then(
      function () {
        L.showNotice(status, "success", "Copied the " + what + ".");
      },
      function () {
        L.showNotice(status, "info", "The " + what + " is selected: press Ctrl+C to copy it.");
      }
    );
  }

  document.getElementById("embed-iframe-copy").addEventListener("click", function () {
    copy(frameSnippet, "frame snippet");
  });
  document.getElementById("embed-form-copy").addEventListener("click", function () {
    copy(formSnippet, "form snippet");
  });

  window.LeadAppSnippets = Object.freeze({ show: show, hide: hide });
})();

/* The admin page's forms: list them, create and edit a form's whole document (custom fields
   added, removed, reordered), remove one, and fill the leads list's form filter. Every error
   of a refused PUT is shown beside the member it names (its dotted path: `origins.0`,
   `labels.submit`, `fields.2.options`). Shown whenever the leads are; same tab-only key. */
(function () {
  "use strict";

  var L = window.LeadApp;
  var DEFAULT_FORM = "default";
  var SLUG = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;
  var MAX_FIELDS = 20;
  var TYPES = ["text", "textarea", "number", "date", "select", "checkbox", "url"];
  // The members each type has besides name, label, type and required.
  var TYPE_MEMBERS = {
    text: ["max_length"],
    textarea: ["max_length"],
    number: ["min", "max"],
    select: ["options"],
    date: [],
    checkbox: [],
    url: []
  };
  var LABEL_MEMBERS = ["name", "email", "phone", "submit", "thanks"];
  // Members written one per line in a textarea; their errors name the item (`origins.2`).
  var LINE_MEMBERS = { origins: true, notify: true };

  var section = document.getElementById("forms-section");
  var title = document.getElementById("forms-title");
  var refresh = document.getElementById("forms-refresh");
  var newButton = document.getElementById("form-new");
  var listError = document.getElementById("forms-error");
  var status = document.getElementById("forms-status");
  var body = document.getElementById("forms-body");
  var filter = document.getElementById("form-filter");
  var announceRegion = document.getElementById("admin-announce");
  var editor = document.getElementById("form-editor");
  var editorTitle = document.getElementById("editor-title");
  var editorAlert = document.getElementById("editor-alert");
  var slugField = document.getElementById("editor-slug-field");
  var slugInput = document.getElementById("form-slug");
  var fieldList = document.getElementById("form-fields");
  var fieldsEmpty = document.getElementById("form-fields-empty");
  var addFieldButton = document.getElementById("field-add");
  var saveButton = document.getElementById("form-save");
  var closeButton = document.getElementById("form-cancel");

  function input(id) {
    return document.getElementById(id);
  }

  var inputs = {
    slug: slugInput,
    title: input("form-title"),
    origins: input("form-origins"),
    consent_text: input("form-consent"),
    success_url: input("form-success-url"),
    challenge: input("form-challenge"),
    one_lead_per_ip: input("form-one-lead-per-ip"),
    notify: input("form-notify"),
    double_opt_in: input("form-double-opt-in"),
    "autoresponder.subject": input("form-auto-subject"),
    "autoresponder.body": input("form-auto-body")
  };
  LABEL_MEMBERS.forEach(function (member) {
    inputs["labels." + member] = input("form-label-" + member);
  });

  var forms = [];
  // LEADAPP_PUBLIC_URL, the base of the embed snippets (GET /forms says it); null: unset.
  var publicUrl = null;
  var editing = null; // the slug of the form in the editor; null while creating one
  var rows = []; // the custom field rows, in order
  var lineNumbers = {}; // origins/notify: the line each sent item came from
  var shownErrors = []; // the inputs marked invalid, to clear before the next save
  var fieldCount = 0; // makes each row's ids unique
  var generation = 0;

  /** Say something to screen readers without moving anything on the screen. */
  function announce(text) {
    announceRegion.textContent = text;
  }

  /** A refused key: let the main script forget it and ask for another. */
  function keyRefused() {
    var forget = document.getElementById("forget-key");
    if (forget && !forget.hidden) {
      forget.click();
    }
  }

  /** Call the admin API; resolves to {response, data}, or rejects with a message. */
  function call(method, path, json) {
    return L.fetchWithKey(path, { method: method, json: json })
      .catch(function () {
        throw new Error(L.NETWORK_PROBLEM.title);
      })
      .then(function (response) {
        if (response.status === 401) {
          keyRefused();
          throw new Error("The API key is wrong or has been revoked.");
        }
        return L.readJson(response).then(function (data) {
          return { response: response, data: data };
        });
      });
  }

  /** The path of one form in the admin API. */
  function formPath(slug) {
    return "/forms/" + encodeURIComponent(slug);
  }

  // --- the list -------------------------------------------------------------------------

  /** One table cell with a label for the narrow (stacked) layout. */
  function cell(label, text, className) {
    var td = L.element("td", className || null, text);
    td.setAttribute("data-label", label);
    return td;
  }

  /** The row of one form: its slug (a link to its page), title, counts, Edit and Remove. */
  function formRow(form) {
    var tr = document.createElement("tr");
    tr.dataset.slug = form.slug;
    var slugCell = cell("Slug", "", "mono");
    var link = L.element("a", null, form.slug);
    link.href = "/f/" + encodeURIComponent(form.slug);
    link.setAttribute("aria-label", "Page of the form " + form.slug);
    slugCell.appendChild(link);
    tr.appendChild(slugCell);
    tr.appendChild(cell("Title", form.title));
    tr.appendChild(cell("Leads", String(form.leads)));
    tr.appendChild(cell("Custom fields", String(form.fields.length)));
    var actions = L.element("td", "row-actions row-actions-wide");
    var edit = L.element("button", "button button-secondary button-small", "Edit");
    edit.type = "button";
    edit.setAttribute("aria-label", "Edit " + form.slug);
    edit.addEventListener("click", function () {
      openForm(form.slug);
    });
    var holder = L.element("div", "row-actions-inner");
    holder.appendChild(edit);
    if (form.slug !== DEFAULT_FORM) {
      holder.appendChild(removeControls(form));
    }
    actions.appendChild(holder);
    tr.appendChild(actions);
    return tr;
  }

  /** Remove, after a second press; `default` has none (it cannot be removed). */
  function removeControls(form) {
    return L.confirmButton({
      verb: "Remove",
      busy: "Removing…",
      cancelled: "Not removed.",
      name: form.slug,
      announce: announce,
      act: function () {
        return call("DELETE", formPath(form.slug))
          .then(function (result) {
            var code = result.response.status;
            if (code !== 204 && code !== 404) {
              var described = L.describeProblem(result.response, result.data);
              L.showNotice(status, "error", described.title, [described.detail]);
              return false;
            }
            if (editing === form.slug) {
              closeEditor();
            }
            L.showNotice(
              status,
              "success",
              code === 404
                ? "The form " + form.slug + " had already been removed."
                : "Removed the form " + form.slug + "; its leads stay."
            );
            title.focus();
            load();
            return true;
          })
          .catch(function (error) {
            L.showNotice(status, "error", error.message);
            return false;
          });
      }
    });
  }

  /** Fill the leads list's form filter, keeping its choice (even of a removed form). */
  function fillFilter() {
    var chosen = filter.value;
    L.clear(filter);
    filter.appendChild(L.element("option", null, "All forms")).value = "";
    var slugs = forms.map(function (form) {
      return form.slug;
    });
    if (chosen && slugs.indexOf(chosen) < 0) {
      slugs.push(chosen);
    }
    slugs.forEach(function (slug) {
      filter.appendChild(L.element("option", null, slug)).value = slug;
    });
    filter.value = chosen;
  }

  /** Fetch every form and show them. */
  function load() {
    var mine = ++generation;
    listError.hidden = true;
    return call("GET", "/forms")
      .then(function (result) {
        if (!result.response.ok || !result.data || !Array.isArray(result.data.items)) {
          throw new Error(L.describeProblem(result.response, result.data).title);
        }
        if (mine !== generation) {
          return;
        }
        forms = result.data.items;
        publicUrl = result.data.public_url || null;
        L.clear(body);
        forms.forEach(function (form) {
          body.appendChild(formRow(form));
        });
        fillFilter();
      })
      .catch(function (error) {
        if (mine !== generation) {
          return;
        }
        listError.textContent = "Forms could not be loaded: " + error.message;
        listError.hidden = false;
      });
  }

  // --- errors beside their members ------------------------------------------------------

  /** The error line under a control (made once, bound to it by aria-describedby). */
  function errorLine(control) {
    var id = control.id + "-error";
    var line = document.getElementById(id);
    if (!line) {
      line = L.element("p", "field-error");
      line.id = id;
      line.hidden = true;
      control.parentNode.appendChild(line);
    }
    return line;
  }

  /** Show messages under a control and mark it invalid. */
  function showError(control, messages) {
    var line = errorLine(control);
    var old = line.hidden ? "" : line.textContent + " ";
    line.textContent = old + messages.join(" ");
    line.hidden = false;
    control.setAttribute("aria-invalid", "true");
    var described = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (described.indexOf(line.id) < 0) {
      described.push(line.id);
      control.setAttribute("aria-describedby", described.join(" "));
    }
    shownErrors.push(control);
  }

  /** Take every shown error away. */
  function clearErrors() {
    shownErrors.forEach(function (control) {
      var line = errorLine(control);
      line.hidden = true;
      line.textContent = "";
      control.removeAttribute("aria-invalid");
    });
    shownErrors = [];
    L.showNotice(editorAlert, "error", "");
  }

  /** The control a dotted path names, and words to put before its messages; or null. */
  function controlFor(path) {
    var parts = path.split(".");
    if (parts[0] === "fields" && /^\d+$/.test(parts[1] || "")) {
      var row = rows[Number(parts[1])];
      if (row) {
        return { control: row.controls[parts[2]] || row.controls.name, prefix: "" };
      }
    }
    if (LINE_MEMBERS[parts[0]] && /^\d+$/.test(parts[1] || "")) {
      var line = (lineNumbers[parts[0]] || [])[Number(parts[1])];
      return { control: inputs[parts[0]], prefix: "Line " + line + ":" };
    }
    if (inputs[path]) {
      return { control: inputs[path], prefix: "" };
    }
    if (path === "autoresponder") {
      return { control: inputs["autoresponder.subject"], prefix: "" };
    }
    if (path === "fields") {
      return { control: addFieldButton, prefix: "" };
    }
    return null;
  }

  /** Show a 422's errors beside their members (others at the top); focus the first. */
  function showErrors(problem) {
    var errors = problem.errors || {};
    var elsewhere = [];
    var first = null;
    Object.keys(errors).forEach(function (path) {
      var messages = [].concat(errors[path]).map(String);
      var target = controlFor(path);
      if (!target) {
        elsewhere.push(path + ": " + messages.join(" "));
        return;
      }
      showError(target.control, target.prefix ? [target.prefix].concat(messages) : messages);
      first = first || target.control;
    });
    var count = Object.keys(errors).length;
    L.showNotice(
      editorAlert,
      "error",
      "The form was not saved: " +
        (count === 1 ? "1 member needs" : count + " members need") +
        " correcting (see beside each).",
      elsewhere
    );
    if (first) {
      first.focus();
    }
  }

  // --- custom field rows ----------------------------------------------------------------

  /** One labelled control in a field row: {wrap, control}. */
  function labelled(row, member, text, control) {
    control.id = row.id + "-" + member.replace(/_/g, "-");
    var wrap = L.element("div", "field field-" + member.replace(/_/g, "-"));
    var label = L.element("label", null, text);
    label.htmlFor = control.id;
    wrap.appendChild(label);
    wrap.appendChild(control);
    row.controls[member] = control;
    row.wraps[member] = wrap;
    return wrap;
  }

  /** A text input. */
  function textInput(type) {
    var node = document.createElement("input");
    node.type = type || "text";
    node.autocomplete = "off";
    node.spellcheck = false;
    return node;
  }

  /** Show only the members of the row's type. */
  function showTypeMembers(row) {
    var members = TYPE_MEMBERS[row.controls.type.value] || [];
    ["max_length", "options", "min", "max"].forEach(function (member) {
      row.wraps[member].hidden = members.indexOf(member) < 0;
    });
  }

  /** The words that name a row for screen readers: its name, else its position. */
  function rowName(row) {
    var name = row.controls.name.value.trim();
    return name ? "field " + name : "field " + (rows.indexOf(row) + 1);
  }

  /** Number the rows, label their buttons and enable the moves that make sense. */
  function renumber() {
    rows.forEach(function (row, index) {
      row.legend.textContent = "Field " + (index + 1);
      row.up.disabled = index === 0;
      row.down.disabled = index === rows.length - 1;
      row.up.setAttribute("aria-label", "Move " + rowName(row) + " up");
      row.down.setAttribute("aria-label", "Move " + rowName(row) + " down");
      row.remove.setAttribute("aria-label", "Remove " + rowName(row));
    });
    fieldsEmpty.hidden = rows.length > 0;
    addFieldButton.disabled = rows.length >= MAX_FIELDS;
  }

  /** Put the rows in the list in their order. */
  function placeRows() {
    rows.forEach(function (row) {
      fieldList.appendChild(row.node);
    });
    renumber();
  }

  /** Move a row by delta places, keeping the focus on the button pressed when it can. */
  function move(row, delta, button) {
    var from = rows.indexOf(row);
    var to = from + delta;
    if (to < 0 || to >= rows.length) {
      return;
    }
    rows.splice(from, 1);
    rows.splice(to, 0, row);
    placeRows();
    (button.disabled ? (delta < 0 ? row.down : row.up) : button).focus();
    announce("Moved " + rowName(row) + " to position " + (to + 1) + " of " + rows.length + ".");
  }

  /** A small button of a row. */
  function rowButton(text, action) {
    var node = L.element("button", "button button-secondary button-small", text);
    node.type = "button";
    node.addEventListener("click", action);
    return node;
  }

  /** Add a row for a field definition (empty for a new field). */
  function addRow(definition) {
    var field = definition || { type: "text" };
    fieldCount += 1;
    var row = { id: "custom-field-" + fieldCount, controls: {}, wraps: {} };
    row.node = L.element("li", "custom-field");
    var group = L.element("fieldset", "custom-field-group");
    row.legend = L.element("legend", null, "");
    group.appendChild(row.legend);
    var grid = L.element("div", "custom-field-grid");

    var name = textInput();
    name.value = field.name || "";
    grid.appendChild(labelled(row, "name", "Name", name));
    var label = textInput();
    label.value = field.label || "";
    label.spellcheck = true;
    grid.appendChild(labelled(row, "label", "Label", label));
    var type = document.createElement("select");
    TYPES.forEach(function (kind) {
      type.appendChild(L.element("option", null, kind)).value = kind;
    });
    type.value = TYPES.indexOf(field.type) >= 0 ? field.type : "text";
    grid.appendChild(labelled(row, "type", "Type", type));
    var maxLength = textInput("number");
    maxLength.min = "1";
    maxLength.step = "1";
    maxLength.value = field.max_length === undefined ? "" : String(field.max_length);
    grid.appendChild(labelled(row, "max_length", "Max length", maxLength));
    var options = document.createElement("textarea");
    options.rows = 3;
    options.value = (field.options || []).join("\n");
    grid.appendChild(labelled(row, "options", "Options, one a line", options));
    var min = textInput();
    min.inputMode = "decimal";
    min.value = field.min === undefined || field.min === null ? "" : String(field.min);
    grid.appendChild(labelled(row, "min", "Minimum", min));
    var max = textInput();
    max.inputMode = "decimal";
    max.value = field.max === undefined || field.max === null ? "" : String(field.max);
    grid.appendChild(labelled(row, "max", "Maximum", max));
    var required = document.createElement("input");
    required.type = "checkbox";
    required.checked = field.required === true;
    var check = labelled(row, "required", "Required", required);
    check.className = "field field-check";
    check.insertBefore(required, check.firstChild);
    grid.appendChild(check);
    group.appendChild(grid);

    var buttons = L.element("div", "custom-field-actions");
    row.up = rowButton("Move up", function () {
      move(row, -1, row.up);
    });
    row.down = rowButton("Move down", function () {
      move(row, 1, row.down);
    });
    row.remove = rowButton("Remove field", function () {
      var index = rows.indexOf(row);
      var gone = rowName(row);
      rows.splice(index, 1);
      fieldList.removeChild(row.node);
      renumber();
      announce("Removed " + gone + ".");
      var next = rows[Math.min(index, rows.length - 1)];
      (next ? next.remove : addFieldButton).focus();
    });
    row.remove.classList.add("button-danger");
    row.remove.classList.remove("button-secondary");
    buttons.appendChild(row.up);
    buttons.appendChild(row.down);
    buttons.appendChild(row.remove);
    group.appendChild(buttons);
    row.node.appendChild(group);

    type.addEventListener("change", function () {
      showTypeMembers(row);
    });
    name.addEventListener("change", renumber);
    showTypeMembers(row);
    rows.push(row);
    fieldList.appendChild(row.node);
    renumber();
    return row;
  }

  /** A number as typed: a number when it reads as one, else the text (the server says why). */
  function numberOf(text) {
    var value = text.trim();
    return value !== "" && isFinite(Number(value)) ? Number(value) : value;
  }

  /** A row's definition, with only its type's members. */
  function definitionOf(row) {
    var c = row.controls;
    var field = {
      name: c.name.value.trim(),
      label: c.label.value.trim(),
      type: c.type.value,
      required: c.required.checked
    };
    var members = TYPE_MEMBERS[field.type] || [];
    if (members.indexOf("max_length") >= 0 && c.max_length.value.trim() !== "") {
      field.max_length = numberOf(c.max_length.value);
    }
    if (members.indexOf("options") >= 0) {
      field.options = lines(c.options.value).items;
    }
    ["min", "max"].forEach(function (member) {
      if (members.indexOf(member) >= 0 && c[member].value.trim() !== "") {
        field[member] = numberOf(c[member].value);
      }
    });
    return field;
  }

  // --- the document ---------------------------------------------------------------------

  /** The non-empty lines of a textarea, trimmed, and the line number each came from. */
  function lines(text) {
    var result = { items: [], numbers: [] };
    text.split("\n").forEach(function (line, index) {
      if (line.trim()) {
        result.items.push(line.trim());
        result.numbers.push(index + 1);
      }
    });
    return result;
  }

  /** Text or null when empty. */
  function textOrNull(control) {
    var value = control.value.trim();
    return value ? value : null;
  }

  /** The document the editor holds, as PUT /forms/<slug> takes it. */
  function documentOf() {
    var document_ = {};
    var titleText = inputs.title.value.trim();
    if (titleText) {
      document_.title = titleText;
    }
    lineNumbers = {};
    Object.keys(LINE_MEMBERS).forEach(function (member) {
      var found = lines(inputs[member].value);
      document_[member] = found.items;
      lineNumbers[member] = found.numbers;
    });
    document_.consent_text = textOrNull(inputs.consent_text);
    document_.success_url = textOrNull(inputs.success_url);
    document_.challenge = inputs.challenge.checked;
    document_.one_lead_per_ip = inputs.one_lead_per_ip.checked;
    document_.double_opt_in = inputs.double_opt_in.checked;
    document_.labels = {};
    LABEL_MEMBERS.forEach(function (member) {
      var text = inputs["labels." + member].value.trim();
      if (text) {
        document_.labels[member] = text;
      }
    });
    var subject = inputs["autoresponder.subject"].value.trim();
    var mailBody = inputs["autoresponder.body"].value.trim();
    document_.autoresponder = subject || mailBody ? { subject: subject, body: mailBody } : null;
    document_.fields = rows.map(definitionOf);
    return document_;
  }

  /** Put a document (or the defaults of a new form) in the editor. */
  function fill(form) {
    var doc = form || {};
    clearErrors();
    inputs.title.value = doc.title || "";
    inputs.origins.value = (doc.origins || []).join("\n");
    inputs.consent_text.value = doc.consent_text || "";
    inputs.success_url.value = doc.success_url || "";
    inputs.challenge.checked = doc.challenge === true;
    inputs.one_lead_per_ip.checked = doc.one_lead_per_ip !== false;
    inputs.notify.value = (doc.notify || []).join("\n");
    inputs.double_opt_in.checked = doc.double_opt_in === true;
    LABEL_MEMBERS.forEach(function (member) {
      inputs["labels." + member].value = (doc.labels || {})[member] || "";
    });
    inputs["autoresponder.subject"].value = doc.autoresponder ? doc.autoresponder.subject : "";
    inputs["autoresponder.body"].value = doc.autoresponder ? doc.autoresponder.body : "";
    rows = [];
    L.clear(fieldList);
    (doc.fields || []).forEach(addRow);
    renumber();
  }

  /** Open the editor on a new form. */
  function newForm() {
    editing = null;
    window.LeadAppSnippets.hide();
    fill(null);
    slugInput.value = "";
    slugInput.readOnly = false;
    slugField.hidden = false;
    editorTitle.textContent = "New form";
    editor.hidden = false;
    slugInput.focus();
  }

  /** Open the editor on a stored form (read afresh from the server). */
  function openForm(slug) {
    return call("GET", formPath(slug))
      .then(function (result) {
        if (!result.response.ok || !result.data) {
          var described = L.describeProblem(result.response, result.data);
          L.showNotice(status, "error", described.title, [described.detail]);
          return;
        }
        showStored(result.data);
        editorTitle.focus();
      })
      .catch(function (error) {
        L.showNotice(status, "error", error.message);
      });
  }

  /** Show a stored form's document in the editor. */
  function showStored(form) {
    editing = form.slug;
    fill(form);
    slugInput.value = form.slug;
    slugInput.readOnly = true;
    slugField.hidden = true;
    editorTitle.textContent = "Form " + form.slug;
    editor.hidden = false;
    window.LeadAppSnippets.show(form.slug, publicUrl);
  }

  /** Close the editor. */
  function closeEditor() {
    editing = null;
    window.LeadAppSnippets.hide();
    clearErrors();
    editor.hidden = true;
  }

  /** Save the editor's document with PUT; errors beside their members. */
  function save(event) {
    event.preventDefault();
    clearErrors();
    var slug = editing || slugInput.value.trim();
    if (!editing) {
      var problem = null;
      if (!SLUG.test(slug)) {
        problem = "Use 1 to 40 lowercase letters, digits and hyphens, not starting or ending with a hyphen.";
      } else if (forms.some(function (form) { return form.slug === slug; })) {
        problem = "A form with this slug exists: edit it in the list instead.";
      }
      if (problem) {
        showErrors({ errors: { slug: [problem] } });
        return;
      }
    }
    var doc = documentOf();
    saveButton.disabled = true;
    saveButton.textContent = "Saving…";
    call("PUT", formPath(slug), doc)
      .then(function (result) {
        var code = result.response.status;
        if ((code === 200 || code === 201) && result.data) {
          showStored(result.data);
          L.showNotice(
            editorAlert,
            "success",
            (code === 201 ? "Created the form " : "Saved the form ") + slug + "."
          );
          load();
          return;
        }
        if (code === 422 && result.data && result.data.errors) {
          showErrors(result.data);
          return;
        }
        var described = L.describeProblem(result.response, result.data);
        L.showNotice(editorAlert, "error", described.title, [described.detail]);
      })
      .catch(function (error) {
        L.showNotice(editorAlert, "error", error.message);
      })
      .then(function () {
        saveButton.disabled = false;
        saveButton.textContent = "Save form";
      });
  }

  newButton.addEventListener("click", newForm);
  refresh.addEventListener("click", load);
  addFieldButton.addEventListener("click", function () {
    var row = addRow(null);
    row.controls.name.focus();
    announce("Added field " + rows.length + ".");
  });
  closeButton.addEventListener("click", function () {
    closeEditor();
    title.focus();
  });
  editor.addEventListener("submit", save);

  L.followLeads(section, load, function () {
    forms = [];
    L.clear(body);
    closeEditor();
    L.showNotice(status, "info", "");
    filter.value = "";
    fillFilter();
  });
})();

/* The admin page's overview: leads and spam per day over 30 days (an SVG bar chart drawn
   here, with a table for screen readers), the top sources, and the CSV download.
   It shows whenever the leads do (the key was accepted) and uses the same tab-only key. */
(function () {
  "use strict";

  var L = window.LeadApp;
  var DAYS = 30;
  var TOP_SOURCES = 5;
  var SVG = "http://www.w3.org/2000/svg";
  // The chart's own coordinate system; CSS scales it to the width available.
  var WIDTH = 600;
  var HEIGHT = 160;
  var GAP = 4;

  var section = document.getElementById("overview-section");
  var refreshButton = document.getElementById("overview-refresh");
  var downloadButton = document.getElementById("download-csv");
  var downloadStatus = document.getElementById("download-status");
  var errorLine = document.getElementById("overview-error");
  var chart = document.getElementById("overview-chart");
  var totals = document.getElementById("overview-totals");
  var maxLabel = document.getElementById("overview-max");
  var firstDay = document.getElementById("overview-first-day");
  var lastDay = document.getElementById("overview-last-day");
  var tableBody = document.getElementById("overview-table-body");
  var sourcesList = document.getElementById("overview-sources");
  var sourcesEmpty = document.getElementById("sources-empty");
  var generation = 0;

  /** A refused key: let the main script forget it and ask for another. */
  function keyRefused() {
    var forget = document.getElementById("forget-key");
    if (forget && !forget.hidden) {
      forget.click();
    }
  }

  /** Fetch with the key; resolves to the Response (401 handled), or rejects. */
  function authorizedFetch(path, accept) {
    return L.fetchWithKey(path, { accept: accept }).then(function (response) {
      if (response.status === 401) {
        keyRefused();
        throw new Error("The API key is wrong or has been revoked.");
      }
      return response;
    });
  }

  /** An SVG element with attributes. */
  function svg(tag, attributes) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, String(attributes[name]));
    });
    return node;
  }

  /** "1 lead" / "2 leads". */
  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  /** Draw one stacked bar per day: leads at the bottom, spam on top. */
  function drawChart(days) {
    L.clear(chart);
    var peak = 0;
    days.forEach(function (day) {
      peak = Math.max(peak, day.leads + day.spam);
    });
    var scale = peak > 0 ? HEIGHT / peak : 0;
    var slot = WIDTH / Math.max(days.length, 1);
    var root = svg("svg", {
      viewBox: "0 0 " + WIDTH + " " + HEIGHT,
      preserveAspectRatio: "none",
      class: "chart-svg",
      role: "img",
      "aria-labelledby": "overview-chart-title overview-chart-summary"
    });
    var desc = svg("desc", { id: "overview-chart-summary" });
    desc.textContent = summary(days);
    root.appendChild(desc);
    root.appendChild(svg("line", { x1: 0, y1: HEIGHT - 0.5, x2: WIDTH, y2: HEIGHT - 0.5, class: "chart-baseline" }));
    days.forEach(function (day, index) {
      var group = svg("g", { class: "chart-day", "data-date": day.date });
      var title = svg("title");
      title.textContent = day.date + ": " + plural(day.leads, "lead") + ", " + day.spam + " spam";
      group.appendChild(title);
      var x = index * slot + GAP / 2;
      var width = Math.max(slot - GAP, 1);
      var leadsHeight = day.leads * scale;
      var spamHeight = day.spam * scale;
      group.appendChild(
        svg("rect", {
          class: "bar bar-leads",
          x: x,
          width: width,
          y: HEIGHT - leadsHeight,
          height: leadsHeight
        })
      );
      group.appendChild(
        svg("rect", {
          class: "bar bar-spam",
          x: x,
          width: width,
          y: HEIGHT - leadsHeight - spamHeight,
          height: spamHeight
        })
      );
      root.appendChild(group);
    });
    chart.appendChild(root);
    maxLabel.textContent = peak > 0 ? String(peak) : "";
    firstDay.textContent = days.length ? days[0].date : "";
    lastDay.textContent = days.length ? days[days.length - 1].date + " (today)" : "";
  }

  /** One sentence a screen reader can read instead of the picture. */
  function summary(days) {
    var leads = 0;
    var spam = 0;
    var best = null;
    days.forEach(function (day) {
      leads += day.leads;
      spam += day.spam;
      if (day.leads > 0 && (!best || day.leads > best.leads)) {
        best = day;
      }
    });
    var text = plural(leads, "lead") + " and " + spam + " spam over the last " + days.length + " days";
    if (best) {
      text += "; most leads on " + best.date + " (" + best.leads + ")";
    }
    return text + ". The table below lists every day.";
  }

  /** The same numbers as a table, for screen readers. */
  function fillTable(days) {
    L.clear(tableBody);
    days.forEach(function (day) {
      var tr = document.createElement("tr");
      var th = L.element("th", null, day.date);
      th.scope = "row";
      tr.appendChild(th);
      tr.appendChild(L.element("td", null, String(day.leads)));
      tr.appendChild(L.element("td", null, String(day.spam)));
      tableBody.appendChild(tr);
    });
  }

  /** The most frequent sources, each with its count and a bar of its share. */
  function fillSources(sources, total) {
    L.clear(sourcesList);
    sources.slice(0, TOP_SOURCES).forEach(function (item) {
      var li = L.element("li", "source");
      var name = L.element("span", "source-name" + (item.source ? "" : " source-none"), item.source || "(no source)");
      var count = L.element("span", "source-count", plural(item.leads, "lead"));
      var meter = L.element("span", "source-meter");
      meter.setAttribute("aria-hidden", "true");
      var fill = svg("svg", { viewBox: "0 0 100 4", preserveAspectRatio: "none", class: "source-meter-svg" });
      fill.appendChild(svg("rect", { x: 0, y: 0, height: 4, width: total ? (100 * item.leads) / total : 0, class: "bar-leads" }));
      meter.appendChild(fill);
      li.appendChild(name);
      li.appendChild(count);
      li.appendChild(meter);
      sourcesList.appendChild(li);
    });
    sourcesEmpty.hidden = sources.length > 0;
  }

  /** Fetch /stats and draw everything. */
  function load() {
    var mine = ++generation;
    errorLine.hidden = true;
    section.setAttribute("aria-busy", "true");
    return authorizedFetch("/stats?days=" + DAYS, "application/json")
      .then(function (response) {
        return L.expectJson(response, function (data) {
          return Array.isArray(data.days);
        });
      })
      .then(function (data) {
        if (mine !== generation) {
          return;
        }
        var spam = data.days.reduce(function (sum, day) {
          return sum + day.spam;
        }, 0);
        totals.textContent = plural(data.total_leads, "lead") + " · " + spam + " spam refused";
        drawChart(data.days);
        fillTable(data.days);
        fillSources(data.sources, data.total_leads);
      })
      .catch(function (error) {
        if (mine === generation) {
          errorLine.textContent = "The overview could not be loaded: " + error.message;
          errorLine.hidden = false;
        }
      })
      .then(function () {
        section.setAttribute("aria-busy", "false");
      });
  }

  /** The file name the server proposed, or a sensible one. */
  function filenameOf(response) {
    var header = response.headers.get("Content-Disposition") || "";
    var match = /filename="([^"]+)"/.exec(header);
    return match ? match[1] : "leads.csv";
  }

  /** Fetch the export with the key (a plain link could not send it) and save it. */
  function download() {
    downloadButton.disabled = true;
    downloadStatus.textContent = "Preparing the CSV…";
    authorizedFetch("/leads/export.csv", "text/csv")
      .then(function (response) {
        if (!response.ok) {
          return L.readJson(response).then(function (data) {
            throw new Error(L.describeProblem(response, data).title);
          });
        }
        return response.blob().then(function (blob) {
          var url = URL.createObjectURL(blob);
          var link = document.createElement("a");
          link.href = url;
          link.download = filenameOf(response);
          link.hidden = true;
          document.body.appendChild(link);
          link.click();
          document.body.removeChild(link);
          window.setTimeout(function () {
            URL.revokeObjectURL(url);
          }, 10000);
          downloadStatus.textContent = "Downloaded " + link.download + ".";
        });
      })
      .catch(function (error) {
        downloadStatus.textContent = "The CSV could not be downloaded: " + error.message;
      })
      .then(function () {
        downloadButton.disabled = false;
      });
  }

  refreshButton.addEventListener("click", load);
  downloadButton.addEventListener("click", download);
  L.followLeads(section, load, function () {
    downloadStatus.textContent = "";
    L.clear(chart);
    L.clear(tableBody);
    L.clear(sourcesList);
  });
})();

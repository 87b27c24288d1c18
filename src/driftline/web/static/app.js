// driftline web UI: a little JavaScript on server-rendered pages.
(function () {
  "use strict";
  var PALETTE = ["#4f5bd5", "#e4572e", "#17bebb", "#ffc914", "#76b041", "#9b5de5", "#f15bb5", "#00bbf9", "#8d99ae", "#2b2d42"];
  window.driftlinePalette = PALETTE;

  // time range: show the date inputs only for "Custom…"
  document.querySelectorAll("select[data-range]").forEach(function (sel) {
    function sync() {
      sel.form.querySelectorAll(".custom-dates").forEach(function (el) {
        el.style.display = sel.value === "custom" ? "" : "none";
      });
    }
    sel.addEventListener("change", sync);
    sync();
  });

  // funnels: add a step
  document.querySelectorAll("[data-add-step]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var steps = document.getElementById("steps");
      var inputs = steps.querySelectorAll("input[name=step]");
      var last = inputs[inputs.length - 1].closest("label");
      var arrow = document.createElement("span");
      arrow.className = "arrow";
      arrow.textContent = "→";
      var copy = last.cloneNode(true);
      var input = copy.querySelector("input");
      input.value = "";
      copy.firstChild.textContent = "Step " + (inputs.length + 1) + " ";
      steps.insertBefore(arrow, btn);
      steps.insertBefore(copy, btn);
      input.focus();
    });
  });

  // Insights chart (uPlot, served by driftline itself)
  var data = document.getElementById("chart-data");
  if (data && window.uPlot) {
    var spec = JSON.parse(data.textContent);
    var el = document.getElementById("chart");
    if (spec.x.length) {
      var xs = spec.x.map(function (d) { return Date.parse(d.length === 10 ? d + "T00:00:00Z" : d + "Z") / 1000; });
      var bars = spec.kind === "bar" ? uPlot.paths.bars({ size: [0.8 / Math.max(1, spec.series.length), 60] }) : null;
      var series = [{}].concat(spec.series.map(function (s, i) {
        return { label: s.name, stroke: PALETTE[i % PALETTE.length], width: 2,
                 fill: bars ? PALETTE[i % PALETTE.length] + "cc" : undefined, paths: bars || undefined,
                 points: { show: spec.x.length < 40 } };
      }));
      var opts = { width: Math.max(320, el.clientWidth - 20), height: 320, series: series,
                   scales: { x: { time: true } }, axes: [{}, { size: 60 }],
                   tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); } };
      var plot = new uPlot(opts, [xs].concat(spec.series.map(function (s) { return s.values; })), el);
      window.addEventListener("resize", function () { plot.setSize({ width: Math.max(320, el.clientWidth - 20), height: 320 }); });
    } else {
      el.textContent = "No events in this range.";
    }
  }

  // sync run progress: poll until the run ends, then reload for the history
  var progress = document.querySelector("[data-progress-url]");
  if (progress) {
    var url = progress.getAttribute("data-progress-url");
    var tick = function () {
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
        if (!s || !s.status) { progress.hidden = true; return; }
        progress.hidden = false;
        progress.querySelector("[data-status]").textContent = s.status;
        progress.querySelector("[data-status]").className = "status-" + s.status;
        var total = s.total || 0, done = s.rows_read || 0;
        progress.querySelector("[data-rows]").textContent = done.toLocaleString() + (total ? " of " + total.toLocaleString() : "") + " rows read" + (s.message ? " · " + s.message : "");
        progress.querySelector(".bar span").style.width = (total ? Math.min(100, 100 * done / total) : (s.running ? 50 : 100)) + "%";
        if (s.error) { progress.querySelector("[data-error]").textContent = s.error; }
        if (s.running) {
          progress.setAttribute("data-was-running", "1");
          setTimeout(tick, 700);
        } else if (progress.getAttribute("data-was-running") === "1") {
          location.replace(location.pathname + "?finished=" + encodeURIComponent(s.run_id || "1"));
        }
      }).catch(function () { setTimeout(tick, 2000); });
    };
    tick();
  }

  // pipeline runs in the background: reload while one is running
  var bg = document.querySelector("[data-reload-while-running]");
  if (bg) { setTimeout(function () { location.reload(); }, 1500); }

  // live view: poll the last events
  var live = document.getElementById("live-body");
  if (live) {
    var liveUrl = live.getAttribute("data-url");
    var poll = function () {
      fetch(liveUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (rows) {
        var tb = document.createDocumentFragment();
        rows.forEach(function (row) {
          var tr = document.createElement("tr");
          row.forEach(function (v, i) {
            var td = document.createElement("td");
            if (i === row.length - 1) { td.className = "wrap"; }
            td.textContent = v === null ? "" : v;
            tr.appendChild(td);
          });
          tb.appendChild(tr);
        });
        live.replaceChildren(tb);
        document.getElementById("live-updated").textContent = new Date().toLocaleTimeString();
      }).finally(function () { setTimeout(poll, 2000); });
    };
    setTimeout(poll, 2000);
  }
})();

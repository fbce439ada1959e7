/* civicdesk charts: draws each <canvas data-chart="ID"> from the JSON in <script id="ID"
   type="application/json"> (Django's json_script), with the vendored Chart.js. The numbers of
   every chart are also in the table after it, so the page says everything without this file.
   No inline scripts or styles: safe under a strict Content-Security-Policy. */
(function () {
  "use strict";

  // Colours keep 3:1 contrast against white (WCAG 1.4.11); line series also differ in dash
  // and point shape, so colour is never the only way to tell them apart.
  var PALETTE = ["#0b4f9c", "#b3261e", "#1a6b32", "#8a4b00", "#6a3d9a"];
  var DASHES = [[], [6, 4], [2, 3], [10, 3, 2, 3], [1, 2]];
  var POINTS = ["circle", "triangle", "rect", "rectRot", "crossRot"];
  var INK = "#1b1b1b";
  var MUTED = "#4a4a4a";

  function ready(fn) {
    if (document.readyState === "complete") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function reducedMotion() {
    return !!(window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches);
  }

  function formatter(unit, lang) {
    var plain = new Intl.NumberFormat(lang, { maximumFractionDigits: unit === "count" ? 0 : 1 });
    var percent = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });
    return function (value) {
      if (value === null || value === undefined || isNaN(value)) { return ""; }
      if (unit === "percent") { return percent.format(value / 100); }
      if (unit === "hours") { return plain.format(value) + " h"; }
      return plain.format(value);
    };
  }

  function datasets(spec) {
    var out = [];
    spec.series.forEach(function (s, i) {
      if (s.type === "hidden") { return; }  // in the table only
      var colour = PALETTE[i % PALETTE.length];
      var line = spec.kind === "line" || s.type === "line";
      out.push({
        label: s.label,
        data: s.data,
        type: line ? "line" : "bar",
        backgroundColor: colour,
        borderColor: colour,
        borderWidth: line ? 2 : 0,
        borderDash: line ? DASHES[i % DASHES.length] : [],
        pointStyle: POINTS[i % POINTS.length],
        pointRadius: line ? 3 : 0,
        pointHoverRadius: line ? 5 : 0,
        spanGaps: false,
        order: line ? 0 : 1  // lines over bars
      });
    });
    return out;
  }

  function draw(canvas, lang) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) { return; }
    var spec = JSON.parse(source.textContent);
    var format = formatter(spec.unit, lang);
    var valueAxis = spec.horizontal ? "x" : "y";
    var categoryAxis = spec.horizontal ? "y" : "x";
    var data = datasets(spec);
    var scales = {};
    scales[valueAxis] = {
      beginAtZero: true,
      ticks: { color: MUTED, callback: function (value) { return format(value); } },
      grid: { color: "#d9dde3" }
    };
    scales[categoryAxis] = { ticks: { color: MUTED, autoSkip: true, maxRotation: 50 }, grid: { display: false } };
    return new window.Chart(canvas, {
      type: spec.kind,
      data: { labels: spec.labels, datasets: data },
      options: {
        locale: lang,
        responsive: true,
        maintainAspectRatio: false,
        animation: reducedMotion() ? false : { duration: 300 },
        indexAxis: spec.horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        scales: scales,
        plugins: {
          legend: { display: data.length > 1, labels: { color: INK, usePointStyle: true } },
          tooltip: {
            callbacks: {
              label: function (context) {
                return context.dataset.label + ": " + format(context.parsed[valueAxis]);
              }
            }
          }
        }
      }
    });
  }

  ready(function () {
    if (!window.Chart) { return; }
    var lang = document.documentElement.lang || "en";
    window.Chart.defaults.color = INK;
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) { draw(canvas, lang); });
  });
})();

/* civicdesk performance pages: the map of requests by council district, sortable tables
   (staff dashboard) and the period filter. Progressive enhancement only: without this file
   the tables hold every figure and the filters work as a plain form. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState === "complete") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  // Districts with a boundary are drawn as shaded areas; districts known only by their code
  // (an imported city's) as a circle where their requests were reported. Shades come from
  // the district-shade-N classes in dashboards.css, the same as the legend's swatches.
  function districtMap(el) {
    var source = document.getElementById(el.getAttribute("data-district-map"));
    var features = source ? JSON.parse(source.textContent) : [];
    var L = window.L;
    var map = L.map(el, { scrollWheelZoom: false });
    var url = el.getAttribute("data-tile-url");
    if (url) {
      L.tileLayer(url, { maxZoom: 19, attribution: el.getAttribute("data-attribution") || "" }).addTo(map);
    }
    var receivedLabel = el.getAttribute("data-label-received") || "";
    var onTimeLabel = el.getAttribute("data-label-on-time") || "";
    var group = L.featureGroup();
    features.forEach(function (f) {
      var className = "district-area district-shade-" + f["class"];
      var layer = f.geometry
        ? L.geoJSON(f.geometry, { style: function () { return { className: className }; } })
        : L.circleMarker([f.center[0], f.center[1]], { radius: 9 + 3 * f["class"], className: className });
      var tip = document.createElement("span");
      var name = document.createElement("strong");
      name.textContent = f.name;
      tip.appendChild(name);
      tip.appendChild(document.createElement("br"));
      tip.appendChild(document.createTextNode(receivedLabel + ": " + f.received));
      tip.appendChild(document.createElement("br"));
      tip.appendChild(document.createTextNode(onTimeLabel + ": " + f.on_time));
      layer.bindTooltip(tip, { sticky: true });
      group.addLayer(layer);
    });
    group.addTo(map);
    if (group.getLayers().length) {
      map.fitBounds(group.getBounds(), { padding: [16, 16], maxZoom: 14 });
    } else {
      map.setView([0, 0], 2);
    }
  }

  function cellKey(cell) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null) { return { text: cell.textContent.trim().toLocaleLowerCase() }; }
    return { number: raw === "" ? null : parseFloat(raw) };
  }

  function compare(a, b, ascending) {
    if ("number" in a) {
      if (a.number === null && b.number === null) { return 0; }
      if (a.number === null) { return 1; }  // nothing to measure: last either way
      if (b.number === null) { return -1; }
      return ascending ? a.number - b.number : b.number - a.number;
    }
    var order = a.text.localeCompare(b.text, document.documentElement.lang || "en");
    return ascending ? order : -order;
  }

  // Column headings become buttons; the heading of the sorted column says which way
  // (aria-sort), which screen readers announce.
  function sortable(table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    var body = table.tBodies[0];
    Array.prototype.forEach.call(heads, function (th, index) {
      if (th.hasAttribute("data-nosort")) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () {
        var rows = Array.prototype.slice.call(body.rows);
        if (rows.length < 2 || rows[0].cells.length <= index) { return; }
        var numeric = rows[0].cells[index].hasAttribute("data-sort");
        var current = th.getAttribute("aria-sort");
        // Numbers start largest first, names from A.
        var ascending = current ? current !== "ascending" : !numeric;
        rows.sort(function (a, b) { return compare(cellKey(a.cells[index]), cellKey(b.cells[index]), ascending); });
        rows.forEach(function (row) { body.appendChild(row); });
        Array.prototype.forEach.call(heads, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      });
    });
  }

  // Changing a date means custom dates: say so in the period select.
  function periodFollowsDates(form) {
    var period = form.querySelector("select[name=period]");
    if (!period) { return; }
    form.querySelectorAll("input[type=date]").forEach(function (input) {
      input.addEventListener("change", function () { period.value = "custom"; });
    });
  }

  ready(function () {
    document.querySelectorAll("form.dashboard-filters").forEach(periodFollowsDates);
    document.querySelectorAll("table[data-sortable]").forEach(sortable);
    if (window.L) { document.querySelectorAll("[data-district-map]").forEach(districtMap); }
  });
})();

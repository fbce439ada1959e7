/* civicdesk progressive enhancement. Every page works without this file: maps are an
   optional way to choose or see a place, never the only one. No inline scripts anywhere. */
(function () {
  "use strict";

  // Deferred scripts (this one, then Leaflet at the end of the body) all run before
  // DOMContentLoaded, so wait for it: running earlier would miss the libraries.
  function ready(fn) {
    if (document.readyState === "complete") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function tiles(map, el) {
    var url = el.getAttribute("data-tile-url");
    if (url) {
      window.L.tileLayer(url, { maxZoom: 19, attribution: el.getAttribute("data-attribution") || "" }).addTo(map);
    }
  }

  function centre(el) {
    var parts = (el.getAttribute("data-center") || "40,-89").split(",");
    return [parseFloat(parts[0]), parseFloat(parts[1])];
  }

  // A map on which a resident may drop a pin; fills the form's hidden lat/long fields and
  // asks the server for open requests of the same service nearby.
  function mapPicker(el) {
    var canvas = el.querySelector(".map");
    var form = el.closest("form");
    var lat = form.querySelector("input[name=lat]");
    var lng = form.querySelector("input[name=long]");
    var chosen = el.querySelector("[data-map-chosen]");
    var map = window.L.map(canvas, { keyboard: true }).setView(centre(el), 13);
    tiles(map, el);
    var marker = null;
    function place(latlng, fetchNearby) {
      if (marker) { marker.setLatLng(latlng); } else { marker = window.L.marker(latlng).addTo(map); }
      lat.value = latlng.lat.toFixed(6);
      lng.value = latlng.lng.toFixed(6);
      chosen.hidden = false;
      if (fetchNearby && window.htmx) {
        window.htmx.ajax("GET", el.getAttribute("data-nearby-url") + "?lat=" + lat.value + "&long=" + lng.value,
                         { target: "#nearby", swap: "innerHTML" });
      }
    }
    map.on("click", function (e) { place(e.latlng, true); });
    el.querySelector("[data-map-clear]").addEventListener("click", function () {
      if (marker) { map.removeLayer(marker); marker = null; }
      lat.value = ""; lng.value = ""; chosen.hidden = true;
      document.getElementById("nearby").innerHTML = "";
    });
    if (lat.value && lng.value) { place({ lat: parseFloat(lat.value), lng: parseFloat(lng.value) }, false); map.setView([parseFloat(lat.value), parseFloat(lng.value)], 16); }
  }

  // A map that shows points listed (as JSON) elsewhere on the page.
  function pointsMap(el) {
    var data = document.getElementById(el.getAttribute("data-map-points"));
    var points = data ? JSON.parse(data.textContent) : [];
    var map = window.L.map(el, { keyboard: false });
    tiles(map, el);
    var bounds = [];
    points.forEach(function (p) {
      window.L.circleMarker([p.lat, p.long], { radius: 6, weight: 2 }).addTo(map).bindTooltip(p.id);
      bounds.push([p.lat, p.long]);
    });
    if (bounds.length > 1) { map.fitBounds(bounds, { padding: [20, 20] }); }
    else if (bounds.length === 1) { map.setView(bounds[0], 16); }
    else { map.setView(centre(el), 12); }
  }

  ready(function () {
    var summary = document.querySelector("[data-focus-on-load]");
    if (summary) { summary.focus(); }
    if (!window.L) { return; }
    document.querySelectorAll("[data-map-picker]").forEach(mapPicker);
    document.querySelectorAll("[data-map-points]").forEach(pointsMap);
  });
})();

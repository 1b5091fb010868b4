// service-coverage map furniture (MIT, this project): search, collapsible panels, popups kept
// clear of the controls, north arrow, print. Loaded after maps.js; every text from the data is
// set with textContent or drawn on canvas, never parsed as HTML.
var SC_NARROW_PX = 700;

function sc_ui(map, panels) {
  var ui = panels.ui || {};
  var narrow = map.getSize().x < SC_NARROW_PX;
  map.sc_narrow = narrow;
  document.documentElement.classList.toggle("sc-narrow", narrow);
  var c = map.sc_controls;
  sc_collapsible(c.views.getContainer(), ui.layers, narrow, "sc-toggle-layers");
  sc_collapsible(c.bases.getContainer(), ui.base, narrow, "sc-toggle-base");
  sc_collapsible(c.legend.getContainer(), ui.legend, narrow, "sc-toggle-legend");
  var info = c.info.getContainer();
  var title = info.querySelector(".sc-info-title");
  sc_collapsible(info, title ? title.textContent : ui.info, narrow, "sc-toggle-info");
  c.search = sc_search_control(map, ui);
  c.north = sc_north_arrow(map, ui);
  // popups are placed by sc_fit_popup at once (Leaflet's own auto-pan animates, and knows
  // nothing of the controls)
  L.Popup.prototype.options.autoPan = false;
  map.on("popupopen", function (e) { sc_fit_popup(map, e.popup); });
  // a panel folded to make room for a popup opens again when the popup closes
  map.on("popupclose", function () {
    var folded = map.getContainer().querySelectorAll(".sc-auto-folded");
    for (var i = 0; i < folded.length; i++) {
      folded[i].classList.remove("sc-auto-folded");
      sc_set_collapsed(folded[i], false);
    }
  });
  window.addEventListener("beforeprint", function () { map.invalidateSize({pan: false}); });
  window.addEventListener("afterprint", function () { map.invalidateSize({pan: false}); });
}

// ---- panels that fold to a button -------------------------------------------------------------
function sc_collapsible(container, label, collapsed, cls) {
  var button = document.createElement("button");
  button.type = "button";
  button.className = "sc-toggle " + cls;
  button.textContent = label || "";
  button.setAttribute("aria-expanded", collapsed ? "false" : "true");
  container.insertBefore(button, container.firstChild);
  container.classList.add("sc-collapsible");
  L.DomEvent.disableClickPropagation(button);
  L.DomEvent.on(button, "click", function () {
    container.classList.remove("sc-auto-folded");  // the reader decides from now on
    sc_set_collapsed(container, !container.classList.contains("sc-collapsed"));
  });
  sc_set_collapsed(container, collapsed);
  return button;
}
function sc_set_collapsed(container, collapsed) {
  container.classList.toggle("sc-collapsed", collapsed);
  var button = container.querySelector(".sc-toggle");
  if (button) { button.setAttribute("aria-expanded", collapsed ? "false" : "true"); }
}

// ---- search: a community or a street by name or id, offline --------------------------------------
function sc_search_index() {
  var out = [];
  ["community", "street"].forEach(function (unit) {
    var feats = (window.sc_data && sc_data[unit]) || [];
    for (var i = 0; i < feats.length; i++) {
      var f = feats[i], name = f.n || f.id;
      out.push({unit: unit, f: f, name: name, key: (name + "\u0001" + f.id).toLowerCase()});
    }
  });
  return out;
}
function sc_search(query, limit) {
  var q = query.trim().toLowerCase();
  if (!q) { return []; }
  if (!window.sc_search_items) { window.sc_search_items = sc_search_index(); }
  var exact = [], starts = [], inside = [];
  var items = window.sc_search_items;
  for (var i = 0; i < items.length; i++) {
    var it = items[i], name = it.name.toLowerCase(), id = String(it.f.id).toLowerCase();
    if (name === q || id === q) { exact.push(it); }
    else if (name.indexOf(q) === 0 || id.indexOf(q) === 0) { starts.push(it); }
    else if (it.key.indexOf(q) >= 0) { inside.push(it); }
  }
  return exact.concat(starts, inside).slice(0, limit || 8);
}
function sc_search_control(map, ui) {
  var control = L.control({position: "topleft"});
  control.onAdd = function () {
    var div = L.DomUtil.create("div", "sc-panel sc-search");
    var input = L.DomUtil.create("input", "sc-search-input", div);
    input.type = "search";
    input.placeholder = ui.search_placeholder || "";
    input.setAttribute("aria-label", ui.search_placeholder || "search");
    input.autocomplete = "off";
    var list = L.DomUtil.create("ul", "sc-search-results", div);
    list.setAttribute("role", "listbox");
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    var found = [];
    function show() {
      found = sc_search(input.value, 8);
      list.textContent = "";
      if (input.value.trim() && !found.length) {
        list.appendChild(sc_el("li", "sc-search-none", ui.search_none || ""));
      }
      found.forEach(function (it) {
        var li = sc_el("li", "sc-search-hit");
        li.setAttribute("role", "option");
        li.tabIndex = 0;
        li.appendChild(sc_el("span", "sc-search-name", it.name));
        var kind = it.unit === "community" ? ui.community : ui.street;
        li.appendChild(sc_el("span", "sc-search-kind", kind + " " + it.f.id));
        // stopped here: the list is emptied by pick, and Leaflet would take a click whose
        // target left the page for a click on the map (which closes the popup just opened)
        L.DomEvent.on(li, "click", function (e) { L.DomEvent.stop(e); pick(it); });
        L.DomEvent.on(li, "keydown", function (e) { if (e.key === "Enter") { pick(it); } });
        list.appendChild(li);
      });
    }
    function pick(it) {
      list.textContent = "";
      input.value = it.name;
      input.blur();
      sc_open_unit(map, it.unit, it.f);
    }
    L.DomEvent.on(input, "input", show);
    L.DomEvent.on(input, "keydown", function (e) {
      if (e.key === "Enter" && found.length) { pick(found[0]); }
      if (e.key === "Escape") { input.value = ""; list.textContent = ""; }
    });
    return div;
  };
  control.addTo(map);
  // above the information panel, right under the zoom buttons
  var el = control.getContainer(), corner = el.parentNode;
  var info = map.sc_controls.info.getContainer();
  if (info.parentNode === corner) { corner.insertBefore(el, info); }
  return control;
}
function sc_open_unit(map, unit, f) {
  // show the unit and open its popup: its layer's own in the rule shown, else the same content
  var shape = L.geoJSON(sc_geom(f));
  var bounds = shape.getBounds();
  map.fitBounds(bounds, {maxZoom: 16, animate: false, padding: [20, 20]});
  var at = f.l ? L.latLng(f.l[1], f.l[0]) : bounds.getCenter();
  var layer = null;
  map.eachLayer(function (l) { if (l.sc_unit === f && l.getPopup && l.getPopup()) { layer = l; } });
  if (layer) {
    layer.openPopup(at);
  } else {
    L.popup({maxWidth: 520, minWidth: 300, maxHeight: 460, autoPanPadding: [20, 20]})
      .setLatLng(at).setContent(f.p).openOn(map);
  }
  map.sc_searched = {unit: unit, id: f.id};
}

// ---- popups never under a control ---------------------------------------------------------------
function sc_rect(el) {
  var r = el.getBoundingClientRect();
  return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, w: r.width, h: r.height};
}
function sc_meets(a, b) {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}
function sc_controls_shown(map) {
  var out = [];
  var all = map.getContainer().querySelectorAll(".leaflet-control-container .leaflet-control");
  for (var i = 0; i < all.length; i++) {
    var r = all[i].getBoundingClientRect();
    if (r.width > 0 && r.height > 0) { out.push(all[i]); }
  }
  return out;
}
function sc_fit_popup(map, popup) {
  // after Leaflet's own auto-pan: fold any open panel the popup meets, then pan the map so
  // the popup clears what is left (zoom buttons, folded panels, scale, attribution)
  var el = popup.getElement();
  if (!el) { return; }
  var size = map.getSize();
  var content = el.querySelector(".leaflet-popup-content");
  var room = Math.max(200, size.x - 2 * 48);
  if (content && popup.options.maxWidth > room) {
    popup.options.maxWidth = room;
    popup.options.minWidth = Math.min(popup.options.minWidth || 50, room);
    popup.update();
  }
  var box = sc_rect(map.getContainer()), gap = 6, margin = 8;
  var wrap = el.querySelector(".leaflet-popup-content-wrapper") || el;
  // first the map's edges: the whole popup on screen (its left edge first if it is too wide)
  var r = sc_rect(wrap), dx = 0, dy = 0;
  if (r.right > box.right - margin) { dx = box.right - margin - r.right; }
  if (r.left + dx < box.left + margin) { dx = box.left + margin - r.left; }
  if (r.top < box.top + margin) { dy = box.top + margin - r.top; }
  if (dx || dy) { map.panBy([-dx, -dy], {animate: false}); }
  for (var round = 0; round < 6; round++) {
    var p = sc_rect(wrap);
    var hit = null;
    var shown = sc_controls_shown(map);
    for (var i = 0; i < shown.length; i++) {
      if (sc_meets(p, sc_rect(shown[i]))) { hit = shown[i]; break; }
    }
    if (!hit) { return; }
    if (hit.classList.contains("sc-collapsible") && !hit.classList.contains("sc-collapsed")) {
      sc_set_collapsed(hit, true);
      hit.classList.add("sc-auto-folded");
      continue;
    }
    var c = sc_rect(hit), moves = [];
    moves.push([c.right + gap - p.left, 0]);
    moves.push([c.left - gap - p.right, 0]);
    moves.push([0, c.bottom + gap - p.top]);
    moves.push([0, c.top - gap - p.bottom]);
    var best = null;
    for (var m = 0; m < moves.length; m++) {
      var dx = moves[m][0], dy = moves[m][1];
      var q = {left: p.left + dx, right: p.right + dx, top: p.top + dy, bottom: p.bottom + dy};
      if (q.left < box.left || q.right > box.right || q.top < box.top || q.bottom > box.bottom + 30) {
        continue;
      }
      if (!best || Math.abs(dx) + Math.abs(dy) < Math.abs(best[0]) + Math.abs(best[1])) {
        best = moves[m];
      }
    }
    if (!best) { return; }
    map.panBy([-best[0], -best[1]], {animate: false});
  }
}

// ---- north arrow ---------------------------------------------------------------------------
function sc_north_arrow(map, ui) {
  // Web Mercator keeps north up everywhere on the map
  var control = L.control({position: "topright"});
  control.onAdd = function () {
    var div = L.DomUtil.create("div", "sc-north");
    div.title = ui.north || "N";
    div.innerHTML = '<svg width="30" height="40" viewBox="0 0 30 40" aria-hidden="true">' +
      '<polygon points="15,3 24,30 15,24 6,30" fill="#222" stroke="#fff" stroke-width="1"/>' +
      '<polygon points="15,3 15,24 6,30" fill="#fff" stroke="#222" stroke-width="1"/>' +
      '<text x="15" y="39" text-anchor="middle" font-size="10" font-weight="700" fill="#222">N</text></svg>';
    return div;
  };
  control.addTo(map);
  var el = control.getContainer(), corner = el.parentNode;
  corner.insertBefore(el, corner.firstChild);
  return control;
}

// service-coverage map behaviour (MIT, this project): layers, controls, legend.
// Loaded inline into every map by coverage/maps.py; globals sc_data and sc_config come first.
function sc_setup(map) {
  window.sc_setup_ms = performance.now();
  if (sc_config.lang === "zh") { document.documentElement.lang = "zh-CN"; }
  L.control.scale({imperial: false, position: "bottomleft"}).addTo(map);
  map.createPane("sc-bands");
  map.getPane("sc-bands").style.zIndex = 420;
  map.getPane("sc-bands").style.pointerEvents = "none";
  map.createPane("sc-outline");
  map.getPane("sc-outline").style.zIndex = 430;
  map.getPane("sc-outline").style.pointerEvents = "none";
}
function sc_geom(f) {
  // decode the compact rings written by coverage/maps.py into a GeoJSON MultiPolygon (once)
  if (f.gj) { return f.gj; }
  var k = sc_config.scale, polys = [];
  for (var i = 0; i < f.g.length; i++) {
    var rings = [];
    for (var j = 0; j < f.g[i].length; j++) {
      var r = f.g[i][j], x = 0, y = 0, ring = [];
      for (var n = 0; n < r.length; n += 2) {
        x += r[n]; y += r[n + 1];
        ring.push([x / k, y / k]);
      }
      ring.push(ring[0]);
      rings.push(ring);
    }
    polys.push(rings);
  }
  f.gj = {type: "MultiPolygon", coordinates: polys};
  return f.gj;
}
function sc_style(view, f) {
  var st = sc_config.status;
  if (view.kind === "status") {
    var s = st[f.s[view.key]] || st.n;
    var code = f.s[view.key];
    return {color: s.color, weight: 1.2, opacity: 0.9, dashArray: s.dash,
            fillColor: s.fill, fillOpacity: code === "p" ? 0.55 : 0.75};
  }
  var c = f.c[view.key];
  if (c === null || c === undefined) {
    return {color: st.n.color, weight: 1, opacity: 0.8, dashArray: st.n.dash,
            fillColor: st.n.fill, fillOpacity: 0.6};
  }
  var pal = sc_config.palette;
  var idx = view.breaks.length >= pal.length ? c : c + (pal.length - view.breaks.length);
  return {color: "#4d4d4d", weight: 0.8, opacity: 0.9, dashArray: null,
          fillColor: pal[Math.min(idx, pal.length - 1)], fillOpacity: 0.8};
}
function sc_tip_line(view, f) {
  var t = sc_config.text;
  if (view.kind === "status") {
    var code = f.s[view.key];
    var word = code === "p" ? t.pass : (code === "f" ? t.fail : t.not_evaluable);
    return view.tip_html + "：" + word;
  }
  var v = f.v[view.key];
  if (v === null || v === undefined) { return view.tip_html + "：" + t.tip_na; }
  return view.tip_html + "：" + t.tip_share.replace("{s}", (100 * v).toFixed(1) + "%");
}
function sc_view_layer(group, index) {
  var view = sc_config.views[index];
  view.tip_html = view.tip.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  var feats = sc_data[view.unit];
  for (var i = 0; i < feats.length; i++) {
    (function (f) {
      var layer = L.geoJSON(sc_geom(f), {style: function () { return sc_style(view, f); }});
      layer.sc_unit = f;
      layer.bindTooltip(f.t + "<br>" + sc_tip_line(view, f), {sticky: true, direction: "top"});
      layer.bindPopup(f.p, {maxWidth: 520, minWidth: 300, maxHeight: 460, autoPanPadding: [20, 20]});
      layer.on("mouseover", function () {
        layer.setStyle({weight: 3, opacity: 1});
        layer.bringToFront();
      });
      layer.on("mouseout", function () { layer.setStyle(sc_style(view, f)); });
      layer.addTo(group);
    })(feats[i]);
  }
}
function sc_outline_layer(group) {
  var feats = sc_data.street;
  for (var i = 0; i < feats.length; i++) {
    L.geoJSON(sc_geom(feats[i]), {pane: "sc-outline", interactive: false,
      style: {color: "#252525", weight: 2.2, opacity: 0.8, fill: false}}).addTo(group);
  }
}
function sc_poi_icon(cat, offNet) {
  var st = sc_config.categories[cat];
  var svg = '<svg width="22" height="22" viewBox="0 0 22 22"><circle cx="11" cy="11" r="9.5" fill="' +
    st.color + '" stroke="#fff" stroke-width="2"' + (offNet ? ' stroke-dasharray="3 2" fill-opacity="0.55"' : '') +
    '/><text x="11" y="15" text-anchor="middle" font-size="' + (st.glyph.length > 1 ? 9 : 11) +
    '" font-weight="700" fill="#fff">' + st.glyph + '</text></svg>';
  return L.divIcon({className: "sc-poi", html: svg, iconSize: [22, 22], iconAnchor: [11, 11],
                    tooltipAnchor: [10, 0], popupAnchor: [0, -10]});
}
var sc_busy = 0;
function sc_check_ready() {
  // the map's "ready" signal: every layer shown when the page opened is built (markers
  // clustered), set as window.sc_ready and sent as the document event "sc-ready"
  if (sc_busy > 0 || window.sc_ready || !window.sc_controls_done) { return; }
  window.sc_ready = true;
  window.sc_ready_ms = performance.now();
  document.dispatchEvent(new Event("sc-ready"));
}
function sc_poi_text(col, i) {
  // one value of a text column written by coverage/maps.py (_text_column)
  if (col.v) { return col.v[i]; }
  if (col.t) { return col.t[col.i[i]]; }
  var digits = String(col.abs[i]);
  while (digits.length < col.w) { digits = "0" + digits; }
  return col.p + digits;
}
function sc_poi_decode() {
  // once: absolute coordinates, the numbers of numbered ids, each category's points
  var P = sc_poi;
  if (P.lat) { return P; }
  var n = P.x.length, k = P.k, x = 0, y = 0, num = 0;
  P.lat = new Float64Array(n);
  P.lon = new Float64Array(n);
  for (var i = 0; i < n; i++) {
    x += P.x[i]; y += P.y[i];
    P.lon[i] = x / k; P.lat[i] = y / k;
  }
  var numbered = [P.id, P.name];
  for (var q = 0; q < 2; q++) {
    var col = numbered[q];
    if (!col.n) { continue; }
    col.abs = new Array(n);
    num = 0;
    for (var j = 0; j < n; j++) { num += col.n[j]; col.abs[j] = num; }
  }
  P.members = {};
  for (var c = 0; c < P.cats.length; c++) { P.members[P.cats[c]] = []; }
  P.extra = {};
  for (var m = 0; m < n; m++) { P.members[P.cats[P.c[m]]].push(m); }
  for (var e = 0; e < P.more.length; e++) {
    var pair = P.more[e];
    P.members[P.cats[pair[1]]].push(pair[0]);
    (P.extra[pair[0]] = P.extra[pair[0]] || []).push(pair[1]);
  }
  P.offset = {};
  for (var o = 0; o < P.off.length; o++) { P.offset[P.off[o]] = true; }
  return P;
}
function sc_poi_name(i) {
  var name = sc_poi_text(sc_poi.name, i);
  return name ? name : sc_config.poi_text.unnamed;
}
function sc_el(tag, cls, text) {
  var el = document.createElement(tag);
  if (cls) { el.className = cls; }
  if (text !== undefined) { el.textContent = text; }
  return el;
}
function sc_commas(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
function sc_poi_tip(marker) {
  // "<b>name</b> · category", built as DOM: the name is text, never HTML
  var i = marker.sc_i, span = sc_el("span");
  span.appendChild(sc_el("b", null, sc_poi_name(i)));
  span.appendChild(document.createTextNode(" · " + sc_config.categories[marker.sc_cat].label));
  return span;
}
function sc_poi_popup(marker) {
  var P = sc_poi, T = sc_config.poi_text, i = marker.sc_i;
  var cats = [P.c[i]].concat(P.extra[i] || []), labels = [];
  for (var c = 0; c < cats.length; c++) { labels.push(P.labels[cats[c]]); }
  var div = sc_el("div", "sc-pop sc-pop-poi");
  div.appendChild(sc_el("div", "sc-pop-title", sc_poi_name(i)));
  div.appendChild(sc_el("div", null, T.categories + T.sep + labels.join(T.list_sep)));
  div.appendChild(sc_el("div", "sc-muted", T.id + " " + sc_poi_text(P.id, i)));
  var snap = P.snap[i];
  if (P.offset[i]) {
    div.appendChild(sc_el("div", "sc-warn", T.off_network.replace("{d}", snap < 0 ? "?" : sc_commas(snap))));
  } else if (snap >= 0) {
    div.appendChild(sc_el("div", "sc-muted", T.snap.replace("{d}", sc_commas(snap))));
  }
  return div;
}
function sc_service_layer(group, cat) {
  // markers are made when the layer is first shown, clustered in chunks; one popup and one
  // tooltip on the cluster group serve every marker (built from the columns on demand)
  var st = sc_config.categories[cat];
  function build() {
    var P = sc_poi_decode();
    var cluster = L.markerClusterGroup({
      maxClusterRadius: 45, showCoverageOnHover: false, disableClusteringAtZoom: 17,
      spiderfyOnMaxZoom: true, chunkedLoading: true, chunkInterval: 200, chunkDelay: 5,
      chunkProgress: function (done, total) {
        if (done >= total && cluster.sc_loading) { cluster.sc_loading = false; sc_busy--; sc_check_ready(); }
      },
      iconCreateFunction: function (c) {
        var n = c.getChildCount();
        var size = n < 10 ? 26 : (n < 100 ? 32 : 38);
        return L.divIcon({className: "sc-cluster", iconSize: [size, size],
          html: '<div style="width:' + (size - 4) + 'px;height:' + (size - 4) + 'px;line-height:' +
                (size - 4) + 'px;background:' + st.color + '">' + n + '</div>'});
      }
    });
    cluster.bindPopup(sc_poi_popup, {maxWidth: 320});
    cluster.bindTooltip(sc_poi_tip, {direction: "top"});
    var icons = [sc_poi_icon(cat, false), sc_poi_icon(cat, true)];
    var members = P.members[cat] || [], markers = new Array(members.length);
    for (var j = 0; j < members.length; j++) {
      var i = members[j];
      var m = L.marker([P.lat[i], P.lon[i]], {icon: icons[P.offset[i] ? 1 : 0]});
      m.sc_i = i;
      m.sc_cat = cat;
      markers[j] = m;
    }
    cluster.addTo(group);
    if (markers.length) {
      cluster.sc_loading = true;
      sc_busy++;
      cluster.addLayers(markers);
    }
    group.sc_cluster = cluster;
  }
  if (group._map) { build(); } else { group.once("add", build); }
}
function sc_time_layer(group, index) {
  // the walking-time raster of one category (coverage/timegrid.py), stretched over its
  // Web Mercator bounds; crisp cells (image-rendering: pixelated in maps.css)
  var t = sc_time[index];
  group.sc_is_time = true;
  L.imageOverlay(t.url, [[t.b[1], t.b[0]], [t.b[3], t.b[2]]], {
    opacity: 0.75, interactive: false, pane: "sc-bands", className: "sc-time"
  }).addTo(group);
}
function sc_band_layer(group, cat, feats, minutes, filled) {
  // one hue for every time band layer (not the category colour): it must not be confused
  // with the sequential blues of the graded views or with pass/fail
  var st = {color: sc_config.band_color};
  var n = minutes.length;
  function opacity(m) {
    var i = minutes.indexOf(m);
    if (n <= 1) { return 0.45; }
    return 0.5 - 0.35 * i / (n - 1);
  }
  group.sc_is_band = true;
  var order = feats.slice().sort(function (a, b) { return b.m - a.m; });
  for (var i = 0; i < order.length; i++) {
    var f = order[i];
    L.geoJSON(sc_geom(f), {pane: "sc-bands", interactive: false, style: {
      color: st.color, weight: filled ? 0.6 : 1.2, opacity: 0.8,
      fillColor: st.color, fillOpacity: filled ? opacity(f.m) : opacity(f.m) * 0.5}}).addTo(group);
  }
}
function sc_controls(map, bases, views, overlays, panels, defaultView) {
  function obj(pairs) {
    var o = {};
    for (var i = 0; i < pairs.length; i++) { o[pairs[i][0]] = pairs[i][1]; }
    return o;
  }
  function heading(ctl, selector, text) {
    var list = ctl.getContainer().querySelector(selector);
    var h = L.DomUtil.create("div", "sc-ctl-h");
    h.innerHTML = text;
    list.parentNode.insertBefore(h, list);
  }
  var main = L.control.layers(obj(views), obj(overlays), {collapsed: false, position: "topright",
                                                          sortLayers: false});
  main.addTo(map);
  heading(main, ".leaflet-control-layers-base", panels.heads.ctl_views);
  heading(main, ".leaflet-control-layers-overlays", panels.heads.ctl_overlays);
  var baseCtl = L.control.layers(obj(bases), {}, {collapsed: false, position: "bottomleft"});
  baseCtl.addTo(map);
  heading(baseCtl, ".leaflet-control-layers-base", panels.heads.ctl_base);
  baseCtl.getContainer().classList.add("sc-base-control");

  var info = L.control({position: "topleft"});
  info.onAdd = function () {
    var div = L.DomUtil.create("div", "sc-panel sc-info");
    div.innerHTML = panels.info;
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  info.addTo(map);
  var legend = L.control({position: "bottomright"});
  var legendBody, bandsBody;
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "sc-panel sc-legend");
    legendBody = L.DomUtil.create("div", "sc-legend-body", div);
    bandsBody = L.DomUtil.create("div", "sc-legend-bands", div);
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  legend.addTo(map);
  var bandLayers = [];
  for (var i = 0; i < overlays.length; i++) {
    if (overlays[i][1].sc_bands) { bandLayers.push(overlays[i][1]); }
  }
  function showBands() {
    var on = false, time = false;
    map.eachLayer(function (l) {
      if (l.sc_is_band) { on = true; }
      if (l.sc_is_time) { time = true; }
    });
    var html = (on ? panels.bands : "") + (time ? panels.time : "");
    bandsBody.innerHTML = html;
    bandsBody.style.display = html ? "" : "none";
  }
  function showView(index) {
    var view = sc_config.views[index];
    legendBody.innerHTML = panels.legends[index];
    var el = document.getElementById("sc-info-view");
    if (el) { el.innerHTML = "<b>" + view.tip_html + "</b>"; }
    map.sc_view = index;
  }
  map.on("baselayerchange", function (e) {
    for (var i = 0; i < views.length; i++) {
      if (views[i][1] === e.layer) { showView(i); }
    }
  });
  map.on("overlayadd overlayremove", showBands);
  showView(defaultView);
  showBands();
  if (panels.offline) { map.attributionControl.setPrefix("Leaflet"); }
  map.attributionControl.addAttribution(panels.osm);
  map.sc_controls = {views: main, bases: baseCtl, legend: legend, info: info};
  if (window.sc_ui) { sc_ui(map, panels); }  // ui.js: search, folding panels, north arrow
  window.sc_controls_done = true;
  sc_check_ready();
}

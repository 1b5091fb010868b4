// service-coverage map behaviour (MIT, this project): layers, controls, legend.
// Loaded inline into every map by coverage/maps.py; globals sc_data and sc_config come first.
function sc_setup(map) {
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
function sc_service_layer(group, cat, rows) {
  var st = sc_config.categories[cat];
  var cluster = L.markerClusterGroup({
    maxClusterRadius: 45, showCoverageOnHover: false, disableClusteringAtZoom: 17,
    spiderfyOnMaxZoom: true,
    iconCreateFunction: function (c) {
      var n = c.getChildCount();
      var size = n < 10 ? 26 : (n < 100 ? 32 : 38);
      return L.divIcon({className: "sc-cluster", iconSize: [size, size],
        html: '<div style="width:' + (size - 4) + 'px;height:' + (size - 4) + 'px;line-height:' +
              (size - 4) + 'px;background:' + st.color + '">' + n + '</div>'});
    }
  });
  var icons = [sc_poi_icon(cat, true), sc_poi_icon(cat, false)];
  for (var i = 0; i < rows.length; i++) {
    var r = rows[i];
    var m = L.marker([r[0], r[1]], {icon: icons[r[4]]});
    m.bindTooltip(r[2], {direction: "top"});
    m.bindPopup(r[3], {maxWidth: 320});
    cluster.addLayer(m);
  }
  cluster.addTo(group);
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
    var on = false;
    map.eachLayer(function (l) { if (l.sc_is_band) { on = true; } });
    bandsBody.innerHTML = on ? panels.bands : "";
    bandsBody.style.display = on ? "" : "none";
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
}

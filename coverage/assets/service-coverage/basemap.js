// service-coverage offline base map and labels (MIT, this project).
// Draws sc_basemap (coverage/basemap.py) and the names of communities and streets on canvas
// tiles made by the page itself: no tile server, no request. Text is drawn with fillText,
// which never reads it as markup.
var SC_BASE = {
  green: {fill: "#d3e8c4", stroke: "#b9d9a3"},
  water: {fill: "#aad3ef", stroke: "#8cc0e3"},
  river: {color: "#8cc0e3", w: 2.2},
  stream: {color: "#aad3ef", w: 1.0},
  rail: {color: "#8a8580", w: 1.4, dash: [5, 3]},
  nowalk: {color: "rgba(160,150,135,0.55)", w: 1.6},
  path: {color: "#a0968a", w: 0.9, dash: [2, 2]},
  street: {casing: "#cbc3b5", color: "#ffffff", w: 1.6},
  major: {casing: "#b5a88f", color: "#fff4d6", w: 2.8}
};
var SC_LABEL_FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", ' +
  '"WenQuanYi Micro Hei", "Helvetica Neue", Arial, sans-serif';

function sc_world(lon, lat) {
  // Web Mercator at zoom 0, in 256-pixel units (what Leaflet's EPSG:3857 gives)
  var s = Math.sin(Math.max(-85.05, Math.min(85.05, lat)) * Math.PI / 180);
  return [(lon + 180) / 360 * 256, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * 256];
}
function sc_basemap_decode() {
  // once: every level's lines and rings as world coordinates with their bounding boxes
  var B = window.sc_basemap;
  if (!B || B.decoded) { return B; }
  function ring(flat, q) {
    var n = flat.length / 2, pts = new Float64Array(flat.length), x = 0, y = 0;
    var box = [Infinity, Infinity, -Infinity, -Infinity];
    for (var i = 0; i < n; i++) {
      x += flat[2 * i]; y += flat[2 * i + 1];
      var w = sc_world(x * q, y * q);
      pts[2 * i] = w[0]; pts[2 * i + 1] = w[1];
      if (w[0] < box[0]) { box[0] = w[0]; }
      if (w[1] < box[1]) { box[1] = w[1]; }
      if (w[0] > box[2]) { box[2] = w[0]; }
      if (w[1] > box[3]) { box[3] = w[1]; }
    }
    return {p: pts, b: box};
  }
  for (var l = 0; l < B.levels.length; l++) {
    var lv = B.levels[l];
    lv.dl = {};
    lv.da = {};
    for (var k in lv.lines) {
      lv.dl[B.kinds[k]] = lv.lines[k].map(function (f) { return ring(f, lv.q); });
    }
    for (var a in lv.areas) {
      lv.da[B.kinds[a]] = lv.areas[a].map(function (poly) {
        var rings = poly.map(function (f) { return ring(f, lv.q); });
        return {r: rings, b: rings[0].b};
      });
    }
  }
  B.decoded = true;
  return B;
}
function sc_basemap_level(B, z) {
  for (var i = 0; i < B.levels.length; i++) {
    if (z <= B.levels[i].z) { return B.levels[i]; }
  }
  return B.levels[B.levels.length - 1];
}
function sc_hits(box, t, pad) {
  return !(box[2] < t[0] - pad || box[0] > t[2] + pad || box[3] < t[1] - pad || box[1] > t[3] + pad);
}
function sc_width(base, z) {
  // line widths grow with the zoom, from hairlines at the town view
  return Math.max(0.5, base * Math.pow(1.45, z - 15));
}
var SCCanvasLayer = L.GridLayer.extend({
  // a grid of canvas tiles drawn by this.options.draw(ctx, tileBox, scale, zoom)
  createTile: function (coords) {
    var size = this.getTileSize(), ratio = window.devicePixelRatio || 1;
    var tile = document.createElement("canvas");
    tile.width = size.x * ratio;
    tile.height = size.y * ratio;
    var ctx = tile.getContext("2d");
    ctx.scale(ratio, ratio);
    var scale = Math.pow(2, coords.z) * 256 / size.x;
    var ox = coords.x * size.x, oy = coords.y * size.y;
    ctx.translate(-ox, -oy);
    this.options.draw(ctx, [ox / scale, oy / scale, (ox + size.x) / scale, (oy + size.y) / scale],
                      scale, coords.z, this);
    return tile;
  }
});
// above the coloured areas (in the labels' pane) the base map's water and streets are drawn
// again, lighter, so that a hatched or filled unit still shows its streets
var SC_TOP = {
  water: {fill: "rgba(120,180,225,0.55)", stroke: "rgba(80,150,205,0.7)"},
  river: {color: "rgba(80,150,205,0.8)", w: 2.0},
  rail: {color: "rgba(70,70,70,0.7)", w: 1.2, dash: [5, 3]},
  nowalk: {color: "rgba(90,80,70,0.35)", w: 1.4},
  path: {color: "rgba(255,255,255,0.75)", w: 0.8, dash: [2, 2]},
  street: {color: "rgba(255,255,255,0.8)", w: 1.3},
  major: {color: "rgba(255,255,255,0.9)", w: 2.4}
};
function sc_basemap_draw(ctx, t, scale, z, layer, top) {
  var B = sc_basemap_decode();
  if (!B) { return; }
  var S = top ? SC_TOP : SC_BASE;
  var lv = sc_basemap_level(B, z), pad = 12 / scale;
  function path(r) {
    var p = r.p;
    ctx.moveTo(p[0] * scale, p[1] * scale);
    for (var i = 2; i < p.length; i += 2) { ctx.lineTo(p[i] * scale, p[i + 1] * scale); }
  }
  (top ? ["water"] : ["green", "water"]).forEach(function (kind) {
    var st = S[kind], polys = lv.da[kind] || [];
    ctx.beginPath();
    for (var i = 0; i < polys.length; i++) {
      if (!sc_hits(polys[i].b, t, pad)) { continue; }
      for (var j = 0; j < polys[i].r.length; j++) { path(polys[i].r[j]); ctx.closePath(); }
    }
    ctx.fillStyle = st.fill;
    ctx.fill("evenodd");
    ctx.strokeStyle = st.stroke;
    ctx.lineWidth = 0.6;
    ctx.stroke();
  });
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  function lines(kind, casing) {
    var st = S[kind], list = lv.dl[kind] || [];
    if (!st) { return; }
    if (casing && !st.casing) { return; }
    ctx.beginPath();
    for (var i = 0; i < list.length; i++) {
      if (sc_hits(list[i].b, t, pad)) { path(list[i]); }
    }
    var w = sc_width(st.w, z);
    ctx.setLineDash(st.dash && !casing ? st.dash : []);
    ctx.strokeStyle = casing ? st.casing : st.color;
    ctx.lineWidth = casing ? w + 1.6 : w;
    ctx.stroke();
  }
  ["river", "stream", "rail", "nowalk", "path"].forEach(function (k) { lines(k, false); });
  ["street", "major"].forEach(function (k) { lines(k, true); });
  ["street", "major"].forEach(function (k) { lines(k, false); });
  ctx.setLineDash([]);
}

// ---- labels: place and street names of the base map, names of communities and streets -------
var sc_label_cache = {};
function sc_label_candidates(z, map) {
  // [x, y (world), angle, text, style, priority], most important first
  var out = [];
  var on = map && map.sc_basemap_on;
  var units = map && map.sc_unit_labels !== false;
  if (units) {
    var streets = (window.sc_data && sc_data.street) || [];
    var comms = (window.sc_data && sc_data.community) || [];
    if (z <= 14) {
      for (var i = 0; i < streets.length; i++) {
        var f = streets[i];
        if (f.l && f.n) { var w = sc_world(f.l[0], f.l[1]); out.push([w[0], w[1], 0, f.n, "street", 0]); }
      }
    }
    if (z >= 15) {
      for (var j = 0; j < comms.length; j++) {
        var c = comms[j];
        if (c.l && c.n) { var v = sc_world(c.l[0], c.l[1]); out.push([v[0], v[1], 0, c.n, "community", 1]); }
      }
    }
  }
  var B = window.sc_basemap;
  if (on && B && B.labels) {
    for (var k = 0; k < B.labels.length; k++) {
      var L0 = B.labels[k];
      if (z < L0[5]) { continue; }
      var kind = B.kinds[L0[4]];
      var p = sc_world(L0[0] / 1e5, L0[1] / 1e5);
      out.push([p[0], p[1], L0[2], B.names[L0[3]], kind === "place" ? "place" : "road",
                kind === "place" ? 2 : (kind === "major" ? 3 : 4)]);
    }
  }
  out.sort(function (a, b) { return a[5] - b[5]; });
  return out;
}
var SC_LABEL_STYLE = {
  street: {font: "700 14px ", color: "#3a3a3a", halo: 3.5},
  community: {font: "600 12px ", color: "#1f1f1f", halo: 3},
  place: {font: "italic 12px ", color: "#5a5046", halo: 3},
  road: {font: "11px ", color: "#4a4a4a", halo: 2.5}
};
var sc_measure = null;
function sc_labels_for(z, map) {
  // greedy placement once per zoom: a label is kept if its box meets no kept label
  var key = z + (map.sc_basemap_on ? "b" : "") + (map.sc_unit_labels === false ? "" : "u");
  if (sc_label_cache[key]) { return sc_label_cache[key]; }
  if (!sc_measure) { sc_measure = document.createElement("canvas").getContext("2d"); }
  var scale = Math.pow(2, z), kept = [], cand = sc_label_candidates(z, map);
  for (var i = 0; i < cand.length; i++) {
    var c = cand[i], st = SC_LABEL_STYLE[c[4]];
    sc_measure.font = st.font + SC_LABEL_FONT;
    var w = sc_measure.measureText(c[3]).width + 2 * st.halo, h = 16 + 2 * st.halo;
    var a = Math.abs(c[2]) * Math.PI / 180;
    var bw = w * Math.cos(a) + h * Math.sin(a), bh = w * Math.sin(a) + h * Math.cos(a);
    var x = c[0] * scale, y = c[1] * scale;
    var box = [x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2];
    var free = true;
    for (var j = 0; j < kept.length && free; j++) {
      var b = kept[j].box;
      free = box[2] < b[0] || box[0] > b[2] || box[3] < b[1] || box[1] > b[3];
    }
    if (free) { kept.push({box: box, x: x, y: y, c: c}); }
  }
  sc_label_cache[key] = kept;
  return kept;
}
function sc_labels_draw(ctx, t, scale, z, layer) {
  var map = layer._map;
  if (!map) { return; }
  if (map.sc_basemap_on) { sc_basemap_draw(ctx, t, scale, z, layer, true); }
  var kept = sc_labels_for(z, map);
  var tb = [t[0] * scale, t[1] * scale, t[2] * scale, t[3] * scale];
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.lineJoin = "round";
  for (var i = 0; i < kept.length; i++) {
    var k = kept[i];
    if (!sc_hits(k.box, tb, 0)) { continue; }
    var st = SC_LABEL_STYLE[k.c[4]];
    ctx.save();
    ctx.translate(k.x, k.y);
    if (k.c[2]) { ctx.rotate(k.c[2] * Math.PI / 180); }
    ctx.font = st.font + SC_LABEL_FONT;
    ctx.strokeStyle = "rgba(255,255,255,0.92)";
    ctx.lineWidth = 2 * st.halo;
    ctx.strokeText(k.c[3], 0, 0);
    ctx.fillStyle = st.color;
    ctx.fillText(k.c[3], 0, 0);
    ctx.restore();
  }
}
function sc_unit_names() {
  // once: each unit record gets its name (n) and label point (l) from sc_names (maps.py)
  if (window.sc_names_done || !window.sc_names || !window.sc_data) { return; }
  ["community", "street"].forEach(function (unit) {
    var recs = sc_data[unit] || [], names = sc_names[unit] || [];
    for (var i = 0; i < recs.length && i < names.length; i++) {
      recs[i].n = names[i][0];
      if (names[i].length > 2) { recs[i].l = [names[i][1], names[i][2]]; }
    }
  });
  window.sc_names_done = true;
}
function sc_basemap_layers(map, group, labels) {
  sc_unit_names();
  // the base map (under every layer) and the names (above the coloured areas, below markers)
  map.createPane("sc-labels");
  map.getPane("sc-labels").style.zIndex = 440;
  map.getPane("sc-labels").style.pointerEvents = "none";
  var base = new SCCanvasLayer({draw: sc_basemap_draw, pane: "tilePane", maxZoom: 19,
                                className: "sc-basemap", updateWhenZooming: false});
  if (group) {
    base.addTo(group);
    group.on("add", function () { map.sc_basemap_on = true; sc_labels_redraw(map); });
    group.on("remove", function () { map.sc_basemap_on = false; sc_labels_redraw(map); });
    map.sc_basemap_on = !!group._map;
  }
  var names = new SCCanvasLayer({draw: sc_labels_draw, pane: "sc-labels", maxZoom: 19,
                                 className: "sc-labels", updateWhenZooming: false});
  labels.on("add", function () { map.sc_unit_labels = true; sc_labels_redraw(map); });
  labels.on("remove", function () { map.sc_unit_labels = false; sc_labels_redraw(map); });
  names.addTo(map);
  map.sc_label_layer = names;
  return names;
}
function sc_labels_redraw(map) {
  sc_label_cache = {};
  if (map.sc_label_layer) { map.sc_label_layer.redraw(); }
}

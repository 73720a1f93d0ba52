// Charts as SVG elements built here (no library, nothing inline: the console's CSP allows only its own files).
'use strict';

const Charts = (() => {
  const NS = 'http://www.w3.org/2000/svg';

  function svg(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, so that the axis reads well.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function fmt(v) {
    if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (v >= 1e3) return (v / 1e3).toFixed(v >= 1e4 ? 0 : 1) + 'k';
    if (v === Math.round(v)) return String(v);
    return String(parseFloat(v.toFixed(v < 1 ? 2 : 1)));
  }

  function legend(el, series) {
    const lg = document.createElement('div');
    lg.className = 'legend';
    for (const s of series) {
      const item = document.createElement('span');
      const sw = document.createElement('span');
      sw.className = 'swatch ' + s.cls;
      item.append(sw, document.createTextNode(s.name));
      lg.append(item);
    }
    el.append(lg);
  }

  // line draws series [{name, cls, points: [[unixSeconds, value]...]}] over time.
  function line(el, series, opts) {
    opts = opts || {};
    el.replaceChildren();
    const W = 560, H = 200, L = 48, R = 12, T = 10, B = 24;
    const all = series.flatMap(s => s.points);
    if (all.length === 0) {
      const p = document.createElement('p');
      p.className = 'muted empty';
      p.textContent = opts.empty || 'No data yet.';
      el.append(p);
      return;
    }
    const t0 = Math.min(...all.map(p => p[0])), t1 = Math.max(...all.map(p => p[0]), t0 + 1);
    const ymax = niceMax(Math.max(...all.map(p => p[1])));
    const x = t => L + (t - t0) / (t1 - t0) * (W - L - R);
    const y = v => T + (1 - v / ymax) * (H - T - B);
    const root = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'svgchart', role: 'img'});
    for (let i = 0; i <= 4; i++) {
      const v = ymax * i / 4;
      root.append(svg('line', {x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid'}));
      root.append(svg('text', {x: L - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end'}, fmt(v)));
    }
    for (let i = 0; i <= 4; i++) {
      const t = t0 + (t1 - t0) * i / 4;
      const d = new Date(t * 1000);
      const label = d.toISOString().slice(11, 16);
      root.append(svg('text', {x: x(t), y: H - 6, class: 'axis', 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle'}, label));
    }
    for (const s of series) {
      if (s.points.length === 0) continue;
      const d = s.points.map((p, i) => (i ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1)).join(' ');
      root.append(svg('path', {d, class: 'series ' + s.cls}));
    }
    el.append(root);
    if (series.length > 1 || opts.legend) legend(el, series);
  }

  // bars draws groups [{label, values: [v per series]}] as grouped vertical bars for series [{name, cls}].
  function bars(el, groups, series) {
    el.replaceChildren();
    const W = 560, H = 220, L = 48, R = 12, T = 16, B = 28;
    const ymax = niceMax(Math.max(1, ...groups.flatMap(g => g.values)));
    const y = v => T + (1 - v / ymax) * (H - T - B);
    const root = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'svgchart', role: 'img'});
    for (let i = 0; i <= 4; i++) {
      const v = ymax * i / 4;
      root.append(svg('line', {x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid'}));
      root.append(svg('text', {x: L - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end'}, fmt(v)));
    }
    const gw = (W - L - R) / groups.length, bw = Math.min(48, gw * 0.8 / series.length);
    groups.forEach((g, gi) => {
      const gx = L + gi * gw + (gw - bw * series.length) / 2;
      g.values.forEach((v, si) => {
        const bx = gx + si * bw;
        root.append(svg('rect', {x: bx + 2, y: y(v), width: bw - 4, height: Math.max(0, y(0) - y(v)), class: 'bar ' + series[si].cls}));
        root.append(svg('text', {x: bx + bw / 2, y: y(v) - 3, class: 'value', 'text-anchor': 'middle'}, fmt(v)));
      });
      root.append(svg('text', {x: L + gi * gw + gw / 2, y: H - 8, class: 'axis', 'text-anchor': 'middle'}, g.label));
    });
    el.append(root);
    legend(el, series);
  }

  // hbars draws rows [{label, values: [v per series]}] as horizontal grouped bars, one row per label.
  function hbars(el, rows, series) {
    el.replaceChildren();
    if (rows.length === 0) {
      const p = document.createElement('p');
      p.className = 'muted empty';
      p.textContent = 'No rule fired in the replayed events.';
      el.append(p);
      return;
    }
    const rowH = 12 * series.length + 10, W = 760, L = 200, R = 60, T = 4;
    const H = T + rows.length * rowH + 4;
    const xmax = niceMax(Math.max(1, ...rows.flatMap(r => r.values)));
    const x = v => L + v / xmax * (W - L - R);
    const root = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'svgchart', role: 'img'});
    rows.forEach((r, ri) => {
      const ry = T + ri * rowH;
      root.append(svg('text', {x: L - 8, y: ry + rowH / 2 + 3, class: 'axis label', 'text-anchor': 'end'}, r.label));
      r.values.forEach((v, si) => {
        const by = ry + 4 + si * 12;
        root.append(svg('rect', {x: L, y: by, width: Math.max(1, x(v) - L), height: 10, class: 'bar ' + series[si].cls}));
        root.append(svg('text', {x: x(v) + 4, y: by + 9, class: 'value'}, fmt(v)));
      });
    });
    el.append(root);
    legend(el, series);
  }

  return {line, bars, hbars, fmt};
})();

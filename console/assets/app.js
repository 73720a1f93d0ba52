// The riskd console: a client of the admin API, signed in by a session cookie (docs/CONSOLE.md).
'use strict';

const state = {
  csrf: '',
  name: '',
  canWrite: false,
  page: '',
  gen: 0,          // counts the pages shown, so that a page still loading when another came does not claim to be ready
  timers: [],
  streams: [],
  candidate: '',
  liveText: null,   // the live rule set's YAML, when it came from the control plane
  backtest: null,
};

// ---- helpers ----------------------------------------------------------------------------------------------------

const $ = id => document.getElementById(id);

// el builds an element: el('td', {class: 'x'}, 'text', child...). Text is always set as text, never as HTML.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function table(t, head, rows) {
  t.replaceChildren(el('thead', {}, el('tr', {}, head.map(h => el('th', {}, h)))), el('tbody', {}, rows));
}

function badge(decision) {
  return el('span', {class: 'badge ' + decision}, decision ? decision.replace('_', '-') : '—');
}

// toDate reads a time as the API may give it: RFC 3339, or a Unix time in s, ms, µs or ns.
function toDate(v) {
  if (typeof v !== 'number') return new Date(v);
  const ms = v > 1e17 ? v / 1e6 : v > 1e14 ? v / 1e3 : v > 1e11 ? v : v * 1000;
  return new Date(ms);
}

function when(iso) {
  if (!iso) return '';
  const d = toDate(iso);
  if (isNaN(d)) return iso;
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

function flash(msg, kind) {
  const f = $('flash');
  f.textContent = msg;
  f.className = 'flash ' + (kind || 'ok');
  f.hidden = false;
  clearTimeout(flash.t);
  flash.t = setTimeout(() => { f.hidden = true; }, 6000);
}

class APIError extends Error {
  constructor(status, body) {
    const e = body && body.error ? body.error : {};
    super(e.message || ('HTTP ' + status));
    this.status = status;
    this.code = e.code || '';
    this.field = e.field || '';
  }
}

// api calls the admin API with the session cookie; every change carries the CSRF token.
async function api(method, path, body, contentType) {
  const headers = {};
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = state.csrf;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = contentType || 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const r = await fetch(path, {method, headers, body: payload, credentials: 'same-origin', cache: 'no-store'});
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (r.status === 401 && !path.startsWith('/console/api/session')) showSignIn();
  if (!r.ok) throw new APIError(r.status, data);
  return data;
}

function kv(obj) {
  return el('table', {class: 'data kv'}, el('tbody', {}, Object.entries(obj).map(([k, v]) =>
    el('tr', {}, el('th', {}, k.replaceAll('_', ' ')), el('td', {}, fmtVal(v))))));
}

function showDetail(title, ...content) {
  $('detail-title').textContent = title;
  $('detail-body').replaceChildren(...content);
  if (!$('detail').open) $('detail').showModal();
}

function confirmDialog(title, text, mustType) {
  return new Promise(resolve => {
    const d = $('confirm');
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-label').textContent = mustType ? `Type ${mustType} to confirm` : '';
    $('confirm-input').hidden = !mustType;
    $('confirm-input').value = '';
    const ok = $('confirm-ok');
    const check = () => { ok.disabled = !!mustType && $('confirm-input').value !== mustType; };
    $('confirm-input').oninput = check;
    check();
    d.onclose = () => resolve(d.returnValue === 'ok');
    d.returnValue = '';
    d.showModal();
  });
}

// ---- the decision stream (server-sent events read with fetch, so that the ": dropped N" comments are seen) -----

function openStream(params, onDecision, onStatus) {
  const ctl = new AbortController();
  let stopped = false, dropped = 0;
  const run = async () => {
    while (!stopped) {
      try {
        const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
        const r = await fetch('/v1/decisions/stream' + (q ? '?' + q : ''), {credentials: 'same-origin', signal: ctl.signal,
          headers: {Accept: 'text/event-stream'}, cache: 'no-store'});
        if (r.status === 404) { onStatus('the decision stream is not served by this riskd', true); return; }
        if (!r.ok) throw new Error('HTTP ' + r.status);
        onStatus('connected' + (dropped ? `; ${dropped} dropped` : ''));
        const reader = r.body.getReader(), dec = new TextDecoder();
        let buf = '', event = '', data = [];
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          buf += dec.decode(value, {stream: true});
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i).replace(/\r$/, '');
            buf = buf.slice(i + 1);
            if (line === '') {
              if (data.length && (event === '' || event === 'decision')) {
                try { onDecision(JSON.parse(data.join('\n'))); } catch (_) { /* a malformed message is skipped */ }
              }
              event = ''; data = [];
            } else if (line.startsWith(':')) {
              const m = /dropped (\d+)/.exec(line);
              if (m) { dropped += Number(m[1]); onStatus(`connected; ${dropped} dropped (this viewer was too slow)`); }
            } else if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
        }
      } catch (e) {
        if (stopped) return;
        onStatus('reconnecting…');
      }
      if (!stopped) await new Promise(r => setTimeout(r, 1500));
    }
  };
  run();
  const handle = {stop() { stopped = true; ctl.abort(); }};
  state.streams.push(handle);
  return handle;
}

function explanation(d) {
  const reasons = (d.reasons || []).map(r => el('tr', {}, el('td', {}, r.code), el('td', {}, r.rule), el('td', {class: 'num'}, r.score)));
  const rules = (d.rules || []).slice().sort((a, b) => (b.fired - a.fired) || a.name.localeCompare(b.name))
    .map(r => el('tr', {class: r.fired ? 'fired' : ''}, el('td', {}, r.name), el('td', {}, r.fired ? 'fired' : '—'), el('td', {class: 'num'}, r.score || 0)));
  const feats = Object.entries(d.features || {}).map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, typeof v === 'object' ? JSON.stringify(v) : String(v))));
  return el('div', {class: 'explain'},
    el('div', {class: 'stats'},
      stat('Decision', badge(d.decision)), stat('Score', d.score), stat('Event', d.event), stat('Tenant', d.tenant || 'default'),
      stat('User', d.user || '—'), stat('IP', d.ip || '—'), stat('Country', d.country || '—'), stat('Took', (d.took_us || 0) + ' µs'),
      stat('Rules version', d.rules_version || '—'),
      d.shadow ? stat('Shadow', el('span', {}, badge(d.shadow.decision), ' ', d.shadow.score)) : null),
    el('p', {class: 'muted small'}, 'Evaluation ', d.evaluation_id || '', ' at ', when(d.time)),
    el('div', {class: 'grid2'},
      el('div', {}, el('h4', {}, 'Reasons'), reasons.length ? el('table', {class: 'data small'}, el('thead', {}, el('tr', {}, el('th', {}, 'code'), el('th', {}, 'rule'), el('th', {}, 'score'))), el('tbody', {}, reasons)) : el('p', {class: 'muted'}, 'none'),
        el('h4', {}, 'Every rule'), el('table', {class: 'data small'}, el('tbody', {}, rules))),
      el('div', {}, el('h4', {}, 'Features'), el('table', {class: 'data small kv'}, el('tbody', {}, feats)))));
}

function stat(label, value) {
  return el('div', {class: 'stat'}, el('div', {class: 'stat-label'}, label), el('div', {class: 'stat-value'}, value));
}

// ---- pages -----------------------------------------------------------------------------------------------------

const pages = {};

pages.overview = async function () {
  const load = async () => {
    try {
      const control = await api('GET', '/v1/control');
      table($('ov-control'), ['Document', 'Serves', 'Newest', 'Label', ''], (control.documents || []).map(d =>
        el('tr', {}, el('td', {}, d.document || d.name), el('td', {class: 'num'}, d.serving), el('td', {class: 'num'}, d.latest),
          el('td', {}, d.label || ''), el('td', {class: 'error'}, d.error || ''))));
    } catch (e) { $('ov-control').replaceChildren(el('caption', {class: 'error'}, e.message)); }
    let st;
    try {
      st = await api('GET', '/v1/stats');
    } catch (e) {
      $('ov-missing').hidden = false;
      $('ov-missing').textContent = e.status === 404 ? 'This riskd does not serve /v1/stats: the charts need it.' : 'Statistics: ' + e.message;
      for (const id of ['ov-rate', 'ov-decisions', 'ov-latency', 'ov-shed']) Charts.line($(id), [], {empty: 'No statistics.'});
      return;
    }
    $('ov-missing').hidden = true;
    const iv = st.interval_s || 10, ser = st.series || [];
    const ts = p => toDate(p.t).getTime() / 1000;
    const per = k => ser.map(p => [ts(p), (p[k] || 0) / iv]);
    Charts.line($('ov-rate'), [{name: 'decisions/s', cls: 's-total', points: ser.map(p => [ts(p), ((p.allow || 0) + (p.step_up || 0) + (p.deny || 0)) / iv])}]);
    Charts.line($('ov-decisions'), [{name: 'allow', cls: 's-allow', points: per('allow')}, {name: 'step-up', cls: 's-step_up', points: per('step_up')}, {name: 'deny', cls: 's-deny', points: per('deny')}]);
    Charts.line($('ov-latency'), [{name: 'p50', cls: 's-p50', points: ser.map(p => [ts(p), p.p50_us || 0])}, {name: 'p99', cls: 's-p99', points: ser.map(p => [ts(p), p.p99_us || 0])}]);
    Charts.line($('ov-shed'), [{name: 'shed/s', cls: 's-shed', points: per('shed')}]);
    const top = st.top_rules || [];
    const most = Math.max(1, ...top.map(r => r.fired));
    table($('ov-rules'), ['Rule', 'Fired', ''], top.map(r => el('tr', {}, el('td', {}, r.rule), el('td', {class: 'num'}, r.fired),
      el('td', {class: 'barcell'}, el('progress', {max: most, value: r.fired})))));
    table($('ov-instances'), ['Instance', 'Rules version', 'Control versions', 'Seen'], (st.instances || []).map(i =>
      el('tr', {}, el('td', {}, i.id), el('td', {}, i.rules_version), el('td', {class: 'small'}, Object.entries(i.control_versions || {}).map(([k, v]) => `${k} ${v}`).join(', ')), el('td', {}, when(i.seen)))));
    $('ov-updated').textContent = 'updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
  };
  await load();
  state.timers.push(setInterval(load, 10000));
};

pages.live = async function () {
  const tbody = $('live-table').querySelector('tbody');
  let paused = false;
  const start = () => {
    for (const s of state.streams) s.stop();
    state.streams = [];
    openStream({decision: $('live-decision').value, event: $('live-event').value, rule: $('live-rule').value.trim(), tenant: $('live-tenant').value.trim()},
      d => {
        if (paused) return;
        const tr = el('tr', {onclick: () => showDetail('Decision ' + (d.evaluation_id || ''), explanation(d))},
          el('td', {}, when(d.time).slice(11)), el('td', {}, badge(d.decision)), el('td', {class: 'num'}, d.score), el('td', {}, d.event),
          el('td', {}, d.tenant), el('td', {}, d.user), el('td', {}, d.ip), el('td', {}, d.country),
          el('td', {class: 'small'}, (d.reasons || []).map(r => r.code).join(', ')), el('td', {class: 'num'}, d.took_us));
        tbody.prepend(tr);
        while (tbody.children.length > 200) tbody.lastChild.remove();
      },
      (msg, bad) => { $('live-status').textContent = msg; $('live-status').className = bad ? 'error small' : 'muted small'; });
  };
  $('live-filters').onsubmit = e => { e.preventDefault(); tbody.replaceChildren(); start(); };
  $('live-pause').onclick = () => { paused = !paused; $('live-pause').textContent = paused ? 'Resume' : 'Pause'; };
  start();
};

// The rule editor: a textarea with a gutter of line numbers that marks the lines of compile errors.
function renderGutter(errLines) {
  const n = $('rules-editor').value.split('\n').length;
  const g = $('rules-gutter');
  g.replaceChildren();
  for (let i = 1; i <= n; i++) {
    g.append(el('span', {class: errLines && errLines.has(i) ? 'errline' : ''}, String(i)), '\n');
  }
  g.scrollTop = $('rules-editor').scrollTop;
}

function gotoLine(n) {
  const ta = $('rules-editor');
  const lines = ta.value.split('\n');
  let start = 0;
  for (let i = 0; i < n - 1 && i < lines.length; i++) start += lines[i].length + 1;
  ta.focus();
  ta.setSelectionRange(start, start + (lines[n - 1] || '').length);
  const lh = parseFloat(getComputedStyle(ta).lineHeight) || 18;
  ta.scrollTop = Math.max(0, (n - 5) * lh);
}

// errorLines reads "request:12: ..." (the candidate's file name is "request") from an error message.
function errorItems(message) {
  const items = [];
  for (const line of message.split('\n')) {
    if (!line.trim()) continue;
    const m = /(?:^|\s)request:(\d+):\s?(.*)$/.exec(line);
    if (m) items.push({line: Number(m[1]), text: m[2]});
    else if (items.length && /^\s*\|/.test(line)) items[items.length - 1].text += '\n' + line; // expr's caret lines
    else items.push({line: 0, text: line});
  }
  // A heading such as "rule compile error:" says what the title says already.
  return items.length > 1 ? items.filter(i => i.line || !/:\s*$/.test(i.text)) : items;
}

async function liveRuleText() {
  const control = await api('GET', '/v1/control');
  const doc = (control.documents || []).find(d => (d.document || d.name) === 'rules');
  if (!doc || !doc.serving) return null;
  const v = await api('GET', `/v1/control/rules/versions/${doc.serving}`);
  const files = v.files || [];
  if (files.length === 0) return null; // the built-in set
  return files.map(f => f.data).join('\n---\n');
}

const candidateTemplate = `# A candidate that builds on the built-in set: only what it changes.
extends: builtin
version: my-change-1
rules:
  - id: example_rule
    description: an example
    when: 'is_tor && user_new_device'
    score: 40
tests:
  - name: a Tor login from a new device steps up
    when: {type: login, user_id: t1, ip: 81.2.69.142, device_id: d1, timestamp: now}
    addresses: {81.2.69.142: {country: GB, tor: true}}
    expect: {decision: step_up}
`;

pages.rules = async function () {
  const ta = $('rules-editor');
  if (!ta.value) ta.value = state.candidate || candidateTemplate;
  renderGutter();
  ta.oninput = () => { state.candidate = ta.value; renderGutter(); };
  ta.onscroll = () => { $('rules-gutter').scrollTop = ta.scrollTop; };
  ta.onkeydown = e => { if (e.key === 'Tab') { e.preventDefault(); ta.setRangeText('  ', ta.selectionStart, ta.selectionEnd, 'end'); ta.oninput(); } };

  const live = await api('GET', '/v1/rules');
  const th = live.thresholds || {};
  $('rules-live-summary').replaceChildren(el('div', {class: 'stats'},
    stat('Live set', live.version), stat('Source', live.source), stat('Rules', (live.rules || []).length), stat('Tests', live.tests),
    stat('Thresholds', `step-up ${th.step_up} · deny ${th.deny}`), stat('Shadow set', live.shadow || 'none')));
  table($('rules-table'), ['Rule', 'When', 'Score / action', 'Mode', 'Events', 'Tenant'], (live.rules || []).map(r =>
    el('tr', {}, el('td', {}, el('code', {}, r.id)), el('td', {}, el('code', {class: 'expr'}, r.when)),
      el('td', {}, r.action && r.action !== 'none' && r.action !== '' ? r.action : (r.score || 0)), el('td', {}, r.mode),
      el('td', {class: 'small'}, (r.events || []).join(', ')), el('td', {}, r.tenant || ''))));
  try { state.liveText = await liveRuleText(); } catch (_) { state.liveText = null; }

  const loadHistory = async () => {
    const doc = $('rules-history-doc').value;
    const [h, control] = await Promise.all([api('GET', `/v1/control/${doc}/versions?limit=30`), api('GET', '/v1/control')]);
    const serving = ((control.documents || []).find(d => (d.document || d.name) === doc) || {}).serving;
    table($('rules-history'), ['Version', 'Time', 'Author', 'Action', 'Label', 'Note', ''], (h.versions || []).map(v =>
      el('tr', {class: v.version === serving ? 'current' : ''}, el('td', {class: 'num'}, v.version), el('td', {}, when(v.time)), el('td', {}, v.author),
        el('td', {}, v.action + (v.rollback_of ? ' of ' + v.rollback_of : '')), el('td', {}, v.label || ''), el('td', {}, v.note || ''),
        el('td', {class: 'actions'},
          el('button', {class: 'small', onclick: async () => {
            const full = await api('GET', `/v1/control/${doc}/versions/${v.version}`);
            ta.value = (full.files || []).map(f => f.data).join('\n---\n') || '# the built-in set (no file)\n';
            state.candidate = ta.value; renderGutter(); flash(`Version ${v.version} loaded into the editor.`);
          }}, 'Open'),
          v.version === serving ? el('span', {class: 'badge current'}, 'serving') :
            el('button', {class: 'small write', 'data-rollback': v.version, onclick: async () => {
              if (!await confirmDialog(`Roll back ${doc} to version ${v.version}?`, 'Its files become a new version, served by every instance within seconds.')) return;
              try {
                const r = await api('POST', `/v1/control/${doc}/rollback?note=` + encodeURIComponent($('rules-note').value || `rollback to ${v.version}`), {version: v.version});
                flash(`Rolled back: version ${r.version} restores version ${r.rollback_of} (${r.label}).`);
                pages.rules();
              } catch (e) { flash('Rollback refused: ' + e.message, 'bad'); }
            }}, 'Roll back to this')))));
  };
  $('rules-history-doc').onchange = loadHistory;
  await loadHistory();

  $('rules-load-live').onclick = async () => {
    const text = await liveRuleText();
    ta.value = text === null ? candidateTemplate : text;
    state.candidate = ta.value; renderGutter();
    flash(text === null ? 'The live set is the built-in one: the editor holds a candidate that extends it.' : 'The live set is in the editor.');
  };

  $('rules-validate').onclick = async () => {
    const out = $('rules-result');
    out.replaceChildren(el('span', {class: 'muted'}, 'Checking…'));
    try {
      const r = await api('POST', '/v1/rules/validate', ta.value, 'application/yaml');
      renderGutter();
      out.replaceChildren(el('p', {class: 'ok', id: 'rules-ok'}, `✓ Compiles: version ${r.version}, ${r.rules} rules. Tests: ${r.tests.passed} passed, ${r.tests.failed} failed.`),
        ...(r.warnings || []).map(w => el('p', {class: 'warn'}, w)));
    } catch (e) {
      const items = errorItems(e.message);
      renderGutter(new Set(items.map(i => i.line).filter(Boolean)));
      const title = e.code === 'rule_tests_failed' ? 'Tests failed' : e.code === 'invalid_rules' ? 'Compile errors' : 'Refused';
      out.replaceChildren(el('p', {class: 'error'}, title),
        el('ul', {class: 'errors', id: 'rules-errors'}, items.map(i => el('li', {},
          i.line ? el('a', {href: '#rules', class: 'lineref', 'data-line': i.line, onclick: ev => { ev.preventDefault(); gotoLine(i.line); }}, `line ${i.line}`) : null,
          i.line ? ' ' : null, i.text))));
    }
  };

  $('rules-diff').onclick = () => {
    const card = $('rules-diff-card');
    card.hidden = false;
    const base = state.liveText;
    const out = $('rules-diff-out');
    if (base === null) {
      out.replaceChildren(el('span', {class: 'muted'}, 'The live set is the built-in one (no file). The candidate, whole:\n'), ...ta.value.split('\n').map(l => el('span', {class: 'add'}, '+ ' + l + '\n')));
      return;
    }
    out.replaceChildren(...diffLines(base.split('\n'), ta.value.split('\n')));
  };

  $('rules-shadow').onclick = async () => {
    try {
      const r = await api('PUT', '/v1/rules/shadow?note=' + encodeURIComponent($('rules-note').value), ta.value, 'application/yaml');
      flash(`Shadow set ${r.shadow} deployed (control version ${r.control_version}): watch the disagreements.`);
      pages.rules();
    } catch (e) { flash('Shadow refused: ' + e.message, 'bad'); }
  };

  $('rules-promote').onclick = async () => {
    if (!await confirmDialog('Promote the candidate to live?', 'It passes the compile and test gate, then every instance serves it within seconds.')) return;
    try {
      const r = await api('PUT', '/v1/rules?note=' + encodeURIComponent($('rules-note').value), ta.value, 'application/yaml');
      flash(`Live: ${r.version} replaces ${r.previous} (control version ${r.control_version}, ${r.tests} tests passed).`);
      try { await api('DELETE', '/v1/rules/shadow?note=promoted'); } catch (_) { /* no shadow set */ }
      pages.rules();
    } catch (e) { flash('Promotion refused: ' + e.message, 'bad'); }
  };

  // Disagreements: decisions whose shadow set decided otherwise, from the live stream.
  const dis = $('rules-disagree').querySelector('tbody');
  dis.replaceChildren();
  let seen = 0, differ = 0;
  if (live.shadow) {
    openStream({}, d => {
      if (!d.shadow) return;
      seen++;
      if (d.shadow.decision !== d.decision) {
        differ++;
        dis.prepend(el('tr', {onclick: () => showDetail('Decision ' + d.evaluation_id, explanation(d))},
          el('td', {}, when(d.time).slice(11)), el('td', {}, d.event), el('td', {}, d.user), el('td', {}, badge(d.decision)), el('td', {}, badge(d.shadow.decision))));
        while (dis.children.length > 50) dis.lastChild.remove();
      }
      $('rules-shadow-counts').textContent = `${differ} of ${seen} decisions since this page opened differ.`;
    }, msg => { $('rules-shadow-status').textContent = msg; });
    $('rules-shadow-counts').textContent = `Shadow set ${live.shadow}: waiting for decisions…`;
  } else {
    $('rules-shadow-counts').textContent = 'No shadow set. Deploy the candidate to shadow to compare it with live on real traffic.';
  }
};

// diffLines is a line diff (longest common subsequence), as spans marked add / del / same.
function diffLines(a, b) {
  const n = a.length, m = b.length;
  if (n * m > 4e6) return [el('span', {class: 'muted'}, 'Too large to diff here.')];
  const L = Array.from({length: n + 1}, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = a[i] === b[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0, j = 0, changed = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { out.push(el('span', {class: 'same'}, '  ' + a[i] + '\n')); i++; j++; }
    else if (i < n && (j === m || L[i + 1][j] >= L[i][j + 1])) { out.push(el('span', {class: 'del'}, '- ' + a[i] + '\n')); i++; changed++; }
    else { out.push(el('span', {class: 'add'}, '+ ' + b[j] + '\n')); j++; changed++; }
  }
  return changed ? out : [el('span', {class: 'muted'}, 'The candidate is the live set.')];
}

pages.backtest = async function () {
  const ta = $('bt-candidate');
  if (!ta.value) ta.value = state.candidate || $('rules-editor').value || candidateTemplate;
  $('bt-from-editor').onclick = () => { ta.value = state.candidate || $('rules-editor').value; };
  $('bt-run').onclick = async () => {
    $('bt-status').textContent = 'Replaying the decision log…';
    try {
      const r = await api('POST', '/v1/rules/backtest', ta.value, 'application/yaml');
      $('bt-status').textContent = '';
      state.backtest = r;
      renderBacktest(r);
    } catch (e) {
      $('bt-status').textContent = e.message;
      $('bt-status').className = 'error small';
    }
  };
  if (state.backtest) renderBacktest(state.backtest);
};

function renderBacktest(r) {
  $('bt-results').hidden = false;
  const pct = x => (100 * x).toFixed(1) + ' %';
  $('bt-summary').replaceChildren(stat('Candidate', r.candidate_version), stat('Events replayed', r.events), stat('Flipped', r.flipped),
    stat('Fail-policy records', r.fallbacks), stat('Replay', ((r.duration_ns || 0) / 1e6).toFixed(1) + ' ms'));
  const dec = ['allow', 'step_up', 'deny'];
  Charts.bars($('bt-dist'), dec.map(k => ({label: k.replace('_', '-'), values: [r.recorded[k], r.candidate[k]]})),
    [{name: 'live (recorded)', cls: 's-recorded'}, {name: 'candidate', cls: 's-candidate'}]);
  if (r.labels) {
    const l = r.labels;
    Charts.bars($('bt-labels'), [{label: 'detection', values: [100 * l.recorded_detection, 100 * l.candidate_detection]},
      {label: 'false positives', values: [100 * l.recorded_false_pos, 100 * l.candidate_false_pos]}],
    [{name: 'live (recorded) %', cls: 's-recorded'}, {name: 'candidate %', cls: 's-candidate'}]);
    $('bt-labels').append(el('p', {class: 'muted small'}, `Over ${l.fraud} events labelled fraud and ${l.legit} labelled legitimate: detection ${pct(l.recorded_detection)} → ${pct(l.candidate_detection)}, false positives ${pct(l.recorded_false_pos)} → ${pct(l.candidate_false_pos)}.`));
  } else {
    $('bt-labels').replaceChildren(el('p', {class: 'muted empty'}, 'The log holds no labels (fraud_confirmed / legit_confirmed outcomes): no detection or false-positive rates.'));
  }
  const rows = (r.rules || []).concat((r.retired || []).map(x => ({...x, id: x.id + ' (retired)'})))
    .filter(x => x.recorded || x.candidate).slice(0, 25);
  Charts.hbars($('bt-rules'), rows.map(x => ({label: x.id, values: [x.recorded, x.candidate]})),
    [{name: 'live (recorded)', cls: 's-recorded'}, {name: 'candidate', cls: 's-candidate'}]);
  table($('bt-flips'), ['Time', 'Event', 'Tenant', 'Live', 'Candidate', 'Candidate rules fired'], (r.flips || []).map(f =>
    el('tr', {onclick: () => showDetail('Flipped decision ' + f.evaluation_id, flipExplanation(f))},
      el('td', {}, when(f.time)), el('td', {}, f.event), el('td', {}, f.tenant), el('td', {}, badge(f.recorded)), el('td', {}, badge(f.candidate)),
      el('td', {class: 'small'}, (f.fired || []).join(', ')))));
  if (!(r.flips || []).length) $('bt-flips').append(el('caption', {class: 'muted'}, 'No decision flipped.'));
}

function flipExplanation(f) {
  const recorded = new Set(f.recorded_fired || []), cand = new Set(f.fired || []);
  const all = [...new Set([...recorded, ...cand])].sort();
  const feats = Object.entries(f.features || {}).map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, fmtVal(v))));
  return el('div', {class: 'explain'},
    el('div', {class: 'stats'}, stat('Live decided', el('span', {}, badge(f.recorded), ' ', f.recorded_score ?? '')),
      stat('Candidate decides', el('span', {}, badge(f.candidate), ' ', f.candidate_score ?? '')),
      stat('Event', f.event), stat('Tenant', f.tenant || 'default'), stat('Time', when(f.time))),
    el('p', {class: 'muted small'}, 'Evaluation ', f.evaluation_id, ', replayed from the decision log.'),
    el('div', {class: 'grid2'},
      el('div', {}, el('h4', {}, 'Rules that fired'),
        all.length ? el('table', {class: 'data small'}, el('thead', {}, el('tr', {}, el('th', {}, 'rule'), el('th', {}, 'live'), el('th', {}, 'candidate'))),
          el('tbody', {}, all.map(r => el('tr', {class: recorded.has(r) !== cand.has(r) ? 'fired' : ''}, el('td', {}, r),
            el('td', {}, recorded.has(r) ? 'fired' : '—'), el('td', {}, cand.has(r) ? 'fired' : '—'))))) : el('p', {class: 'muted'}, 'none')),
      el('div', {}, el('h4', {}, 'Features'), feats.length ? el('table', {class: 'data small kv'}, el('tbody', {}, feats)) : el('p', {class: 'muted'}, 'not in the log'))));
}

function localToISO(v) { return v ? new Date(v).toISOString() : undefined; }
function splitList(v) { return v.split(',').map(s => s.trim()).filter(Boolean); }

pages.lists = async function () {
  let current = null, entries = [];
  const renderEntries = () => {
    const q = $('entries-search').value.toLowerCase();
    const now = Date.now();
    table($('entries-table'), ['Value', 'Expires', 'Note', ''], entries.filter(e => !q || e.value.toLowerCase().includes(q) || (e.note || '').toLowerCase().includes(q)).map(e => {
      const expired = e.expires && Date.parse(e.expires) <= now;
      return el('tr', {class: expired ? 'expired' : ''}, el('td', {}, el('code', {}, e.value)), el('td', {}, e.expires ? when(e.expires) + (expired ? ' (expired)' : '') : 'never'),
        el('td', {}, e.note || ''), el('td', {class: 'actions'},
          el('button', {class: 'small write', onclick: async () => {
            try {
              await api('PUT', `/v1/lists/${encodeURIComponent(current.name)}?note=expire`, {kind: current.kind, entries: [{value: e.value, note: e.note, expires: new Date(Date.now() + 1000).toISOString()}]});
              flash(`${e.value} expires now.`); await open(current.name);
            } catch (err) { flash(err.message, 'bad'); }
          }}, 'Expire'),
          el('button', {class: 'small write', onclick: async () => {
            try { await api('POST', `/v1/lists/${encodeURIComponent(current.name)}/remove`, {values: [e.value]}); flash(`${e.value} removed.`); await open(current.name); } catch (err) { flash(err.message, 'bad'); }
          }}, 'Remove')));
    }));
  };
  const open = async name => {
    current = await api('GET', `/v1/lists/${encodeURIComponent(name)}`);
    entries = current.entries || [];
    $('entries-title').textContent = `${current.name} (${current.kind}, ${current.size}, from ${current.source})`;
    $('la-name').value = current.name;
    $('la-kind').value = current.kind;
    renderEntries();
    await loadLists();
  };
  const loadLists = async () => {
    const ls = (await api('GET', '/v1/lists')).lists || [];
    table($('lists-table'), ['List', 'Kind', 'Entries', 'Source'], ls.map(l => el('tr', {class: current && current.name === l.name ? 'current' : '', onclick: () => open(l.name)},
      el('td', {}, l.name), el('td', {}, l.kind), el('td', {class: 'num'}, l.size), el('td', {class: 'small'}, l.source))));
    if (!ls.length) $('lists-table').append(el('caption', {class: 'muted'}, 'No lists yet.'));
    return ls;
  };
  $('entries-search').oninput = renderEntries;
  $('list-add').onsubmit = async ev => {
    ev.preventDefault();
    const name = $('la-name').value.trim();
    try {
      const expires = localToISO($('la-expires').value);
      const r = await api('PUT', `/v1/lists/${encodeURIComponent(name)}?note=` + encodeURIComponent($('la-note').value), {kind: $('la-kind').value,
        entries: splitList($('la-values').value).map(v => ({value: v, note: $('la-note').value || undefined, expires}))});
      flash(`${r.entries_put} entries saved in ${r.name} (control version ${r.control_version}).`);
      $('la-values').value = '';
      await open(name);
    } catch (e) { flash(e.message, 'bad'); }
  };
  let excs = [];
  const renderExc = () => {
    const q = $('exc-search').value.toLowerCase();
    table($('exc-table'), ['Id', 'Rules', 'Applies to', 'Expires', 'Note', ''], excs.filter(x => !q || JSON.stringify(x).toLowerCase().includes(q)).map(x =>
      el('tr', {}, el('td', {}, x.id), el('td', {}, (x.rules || []).join(', ')),
        el('td', {class: 'small'}, [x.user && 'user ' + x.user.slice(0, 12) + '…', x.device && 'device ' + x.device.slice(0, 12) + '…', x.network && 'network ' + x.network, x.asn && 'ASN ' + x.asn, x.country && 'country ' + x.country, x.tenant && 'tenant ' + x.tenant].filter(Boolean).join(', ')),
        el('td', {}, when(x.expires)), el('td', {}, x.note || ''),
        el('td', {class: 'actions'}, el('button', {class: 'small', onclick: () => {
          $('ex-id').value = x.id; $('ex-rules').value = (x.rules || []).join(', '); $('ex-network').value = x.network || ''; $('ex-country').value = x.country || '';
          $('ex-tenant').value = x.tenant || ''; $('ex-note').value = x.note || ''; $('ex-user').value = '';
          $('ex-expires').value = x.expires ? new Date(Date.parse(x.expires) - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16) : '';
        }}, 'Edit'),
        el('button', {class: 'small write', onclick: async () => {
          if (!await confirmDialog(`Delete exception ${x.id}?`, 'The rules it suppresses apply again.')) return;
          try { await api('DELETE', `/v1/exceptions/${encodeURIComponent(x.id)}`); flash(`Exception ${x.id} deleted.`); await loadExc(); } catch (e) { flash(e.message, 'bad'); }
        }}, 'Delete')))));
    if (!excs.length) $('exc-table').append(el('caption', {class: 'muted'}, 'No exceptions.'));
  };
  const loadExc = async () => { excs = (await api('GET', '/v1/exceptions')).exceptions || []; renderExc(); };
  $('exc-search').oninput = renderExc;
  $('exc-add').onsubmit = async ev => {
    ev.preventDefault();
    const body = {rules: splitList($('ex-rules').value), expires: localToISO($('ex-expires').value)};
    for (const [k, id] of [['user', 'ex-user'], ['network', 'ex-network'], ['country', 'ex-country'], ['tenant', 'ex-tenant'], ['note', 'ex-note']]) {
      if ($(id).value.trim()) body[k] = $(id).value.trim();
    }
    try {
      await api('PUT', `/v1/exceptions/${encodeURIComponent($('ex-id').value.trim())}?note=` + encodeURIComponent($('ex-note').value), body);
      flash(`Exception ${$('ex-id').value} saved.`);
      await loadExc();
    } catch (e) { flash(e.message, 'bad'); }
  };
  try {
    const ls = await loadLists();
    if (ls.length && !current) await open(ls[0].name);
    await loadExc();
  } catch (e) {
    $('lists-table').replaceChildren(el('caption', {class: 'error'}, e.message));
  }
};

pages.users = async function () {
  const out = $('user-out');
  const erase = $('user-erase');
  $('user-form').onsubmit = async ev => {
    ev.preventDefault();
    const id = $('user-id').value.trim();
    try {
      const u = await api('GET', `/v1/users/${encodeURIComponent(id)}`);
      erase.disabled = !state.canWrite;
      erase.dataset.user = id;
      out.replaceChildren(renderExport(u));
    } catch (e) {
      erase.disabled = true;
      out.replaceChildren(el('p', {class: 'error'}, e.message));
    }
  };
  erase.onclick = async () => {
    const id = erase.dataset.user;
    if (!await confirmDialog(`Erase ${id}?`, 'Everything riskd holds about this user is deleted on every instance: profile, devices, velocity, preferences. This cannot be undone.', id)) return;
    try {
      await api('DELETE', `/v1/users/${encodeURIComponent(id)}`);
      flash(`${id} erased.`);
      out.replaceChildren(el('p', {class: 'muted'}, `${id} was erased.`));
      erase.disabled = true;
    } catch (e) { flash(e.message, 'bad'); }
  };
};

// renderExport shows a user export: scalar fields as a summary, lists as tables.
function renderExport(u) {
  const scalars = {}, parts = [];
  for (const [k, v] of Object.entries(u)) {
    if (Array.isArray(v)) {
      const cols = [...new Set(v.flatMap(x => typeof x === 'object' && x ? Object.keys(x) : ['value']))];
      parts.push(el('div', {class: 'card'}, el('h3', {}, `${k.replaceAll('_', ' ')} (${v.length})`),
        v.length ? el('table', {class: 'data small'}, el('thead', {}, el('tr', {}, cols.map(c => el('th', {}, c)))),
          el('tbody', {}, v.map(x => el('tr', {}, cols.map(c => el('td', {}, typeof x === 'object' && x ? fmtVal(x[c]) : fmtVal(x))))))) : el('p', {class: 'muted'}, 'none')));
    } else if (v && typeof v === 'object') {
      parts.push(el('div', {class: 'card'}, el('h3', {}, k.replaceAll('_', ' ')), kv(v)));
    } else scalars[k] = v;
  }
  return el('div', {}, el('div', {class: 'card'}, el('h3', {}, 'Export'), kv(scalars)), el('div', {class: 'grid2'}, parts),
    el('details', {}, el('summary', {}, 'The export as JSON'), el('pre', {class: 'json'}, JSON.stringify(u, null, 2))));
}

// fmtVal shows a value of an export in a cell: lists joined, small objects as "key value · key value".
function fmtVal(v) {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.length ? v.map(fmtVal).join(', ') : '—';
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k} ${fmtVal(x)}`).join(' · ');
  return String(v);
}

pages.audit = async function () {
  const docs = ['rules', 'shadow', 'lists', 'exceptions'];
  const [recent, ...hist] = await Promise.all([api('GET', '/v1/audit?limit=200').catch(() => ({records: []})),
    ...docs.map(d => api('GET', `/v1/control/${d}/versions?limit=50`).catch(() => ({versions: []})))]);
  const rows = [];
  hist.forEach((h, i) => (h.versions || []).forEach(v => rows.push({time: v.time, who: v.author, what: `${docs[i]} version ${v.version}: ${v.action}${v.rollback_of ? ' of ' + v.rollback_of : ''}`,
    target: v.label || '', result: 'committed', note: v.note || '', src: 'control plane'})));
  (recent.records || []).forEach(r => rows.push({time: r.time, who: r.who, what: r.action, target: r.target || '', result: r.result, note: r.detail || '', src: 'this instance'}));
  rows.sort((a, b) => (b.time || '').localeCompare(a.time || ''));
  const render = () => {
    const q = $('audit-search').value.toLowerCase();
    table($('audit-table'), ['Time', 'Who', 'What', 'Target', 'Result', 'Note / detail', 'From'], rows.filter(r => !q || Object.values(r).join(' ').toLowerCase().includes(q)).map(r =>
      el('tr', {class: /refused/.test(r.result) ? 'refused' : ''}, el('td', {class: 'nowrap'}, when(r.time)), el('td', {}, r.who), el('td', {}, r.what), el('td', {class: 'small'}, r.target),
        el('td', {}, r.result), el('td', {class: 'small'}, r.note), el('td', {class: 'nowrap'}, el('span', {class: 'badge'}, r.src)))));
  };
  $('audit-search').oninput = render;
  render();
};

// ---- navigation and sign-in ------------------------------------------------------------------------------------

async function show(page) {
  if (!pages[page]) page = 'overview';
  const gen = ++state.gen;
  for (const t of state.timers) clearInterval(t);
  for (const s of state.streams) s.stop();
  state.timers = []; state.streams = [];
  state.page = page;
  $('flash').hidden = true;
  for (const s of document.querySelectorAll('.page')) s.hidden = s.id !== 'page-' + page;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === page);
  try {
    await pages[page]();
  } catch (e) {
    flash(e.message, 'bad');
  }
  if (gen === state.gen) document.body.dataset.ready = page; // the browser tests wait for this; a newer page may have come
}

function signedIn(s) {
  state.csrf = s.csrf_token || '';
  state.name = s.name;
  state.canWrite = (s.scopes || []).includes('admin');
  $('who-name').textContent = s.name;
  $('who-scope').textContent = state.canWrite ? 'admin' : 'read only';
  $('signout').hidden = !!s.open;
  document.body.classList.toggle('readonly', !state.canWrite);
  $('signin').hidden = true;
  $('app').hidden = false;
  show(location.hash.slice(1));
}

function showSignIn() {
  for (const s of state.streams) s.stop();
  state.streams = [];
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-key').focus();
}

async function init() {
  $('signin-form').onsubmit = async ev => {
    ev.preventDefault();
    $('signin-error').textContent = '';
    try {
      signedIn(await api('POST', '/console/api/session', {key: $('signin-key').value}));
      $('signin-key').value = '';
    } catch (e) {
      $('signin-error').textContent = e.message;
    }
  };
  $('signout').onclick = async () => {
    try { await api('DELETE', '/console/api/session'); } catch (_) { /* signed out either way */ }
    state.csrf = '';
    showSignIn();
  };
  window.addEventListener('hashchange', () => { if (!$('app').hidden) show(location.hash.slice(1)); });
  try {
    signedIn(await api('GET', '/console/api/session'));
  } catch (_) {
    showSignIn();
  }
}

init();

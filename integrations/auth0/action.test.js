// Tests of the Auth0 Actions against a mock api object and a mock riskd on loopback: node --test
// (Node 18+, no npm packages). With RISKD_TEST_URL (and RISKD_TEST_API_KEY) set, one test also runs against a
// real riskd: integrations/integrations_test.go starts one and runs this file, so `go test ./...` covers it.
'use strict';

const { before, test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');

const action = require('./action.js');
const reportAction = require('./report-action.js');

const { DENY_MESSAGE, PENDING_KEY } = action.internal;
const API_KEY = 'rk_test_secret';

// mockApi records what the Action asks of Auth0.
function mockApi() {
  const calls = [];
  const record = (name) => (...args) => { calls.push({ name, args }); };
  return {
    calls,
    names: () => calls.map((c) => c.name),
    api: {
      access: { deny: record('access.deny') },
      multifactor: { enable: record('multifactor.enable') },
      authentication: { challengeWithAny: record('authentication.challengeWithAny') },
      user: { setAppMetadata: record('user.setAppMetadata') },
    },
  };
}

// loginEvent is a post-login event as Auth0 documents it, with an Adaptive MFA risk assessment.
function loginEvent(url, secrets = {}) {
  return {
    // Generous budgets, so that only the tests about timing depend on the machine's speed; those set theirs.
    secrets: { RISKD_URL: url, RISKD_API_KEY: API_KEY, RISKD_TIMEOUT_MS: '2000', RISKD_EVENTS_TIMEOUT_MS: '2000', ...secrets },
    tenant: { id: 'brand-a' },
    client: { client_id: 'c1', name: 'Shop', metadata: { riskd_channel: 'web' } },
    transaction: { protocol: 'oidc-basic-profile' },
    request: {
      ip: '175.16.199.1',
      user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
      query: { riskd_device: 'dev-42' },
    },
    user: { user_id: 'auth0|ana', app_metadata: {}, enrolledFactors: [{ type: 'otp' }, { type: 'webauthn-platform' }] },
    authentication: {
      methods: [{ name: 'pwd', timestamp: '2026-12-05T06:00:00.000Z' }],
      riskAssessment: {
        confidence: 'low',
        version: '1',
        assessments: {
          UntrustedIP: { confidence: 'high', code: 'not_found_on_deny_list' },
          NewDevice: { confidence: 'low', code: 'no_match', details: { device: 'unknown' } },
          ImpossibleTravel: { confidence: 'medium', code: 'travel_from_last_login' },
        },
      },
    },
  };
}

// mockRiskd serves handler on a loopback port and records every request with its body.
async function mockRiskd(t, handler) {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const r = { method: req.method, url: req.url, headers: req.headers, body, json: null };
      try { r.json = JSON.parse(body); } catch { /* the test looks at body */ }
      requests.push(r);
      handler(r, req, res);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${server.address().port}`, requests };
}

function json(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

// answering answers /v1/decide with decision and /v1/events with "recorded".
function answering(decision) {
  return (r, req, res) => {
    if (r.url === '/v1/events') return json(res, 200, { status: 'recorded' });
    json(res, 200, { decision, score: 65, reasons: [{ code: 'new_device', rule: 'new_device', message: 'm', score: 25 }],
      evaluation_id: '00000000000000ab', rules_version: 'builtin-2', took_us: 40 });
  };
}

// logs captures the Action's JSON log lines.
function logs(t) {
  const lines = [];
  t.mock.method(console, 'log', (s) => { lines.push(JSON.parse(s)); });
  return lines;
}

// Node loads its fetch implementation on first use: load it before any test is timed.
before(async () => {
  await fetch('http://127.0.0.1:1/').catch(() => {});
});

async function run(ev, api) {
  const start = performance.now();
  await action.onExecutePostLogin(ev, api);
  return performance.now() - start;
}

// within runs fn and asserts it finished within budgetMs + 50 ms. The budget is counted from a plain timer of
// the same length started with it: on a loaded machine timers fire late, and that lateness is the machine's,
// not the Action's.
async function within(budgetMs, what, fn) {
  let timerFired = 0;
  const start = performance.now();
  const timer = new Promise((resolve) => setTimeout(() => { timerFired = performance.now() - start; resolve(); }, budgetMs));
  await fn();
  const ms = performance.now() - start;
  if (ms <= budgetMs + 50) return;
  await timer;
  assert.ok(ms <= Math.max(budgetMs, timerFired) + 50,
    `${what} took ${ms.toFixed(0)} ms: beyond its ${budgetMs} ms budget + 50 ms (a ${budgetMs} ms timer fired after ${timerFired.toFixed(0)} ms)`);
}

test('allow lets the login through and reports login_succeeded with the evaluation_id', async (t) => {
  logs(t);
  const riskd = await mockRiskd(t, answering('allow'));
  const m = mockApi();
  await run(loginEvent(riskd.url, { RISKD_DEVICE_QUERY_PARAM: 'riskd_device' }), m.api);
  assert.deepEqual(m.calls, []);
  assert.equal(riskd.requests.length, 2);

  const [decide, outcome] = riskd.requests;
  assert.equal(decide.method, 'POST');
  assert.equal(decide.url, '/v1/decide');
  assert.equal(decide.headers['content-type'], 'application/json');
  assert.equal(decide.headers.authorization, `Bearer ${API_KEY}`);
  assert.deepEqual(decide.json, {
    type: 'login',
    user_id: 'auth0|ana',
    ip: '175.16.199.1',
    credentials_valid: true,
    user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
    device_id: 'dev-42',
    tenant: 'brand-a',
    channel: 'web',
    attributes: {
      auth0_risk_confidence: 'low',
      auth0_risk_version: '1',
      auth0_impossible_travel_confidence: 'medium',
      auth0_impossible_travel_code: 'travel_from_last_login',
      auth0_new_device_confidence: 'low',
      auth0_new_device_code: 'no_match',
      auth0_untrusted_ip_confidence: 'high',
      auth0_untrusted_ip_code: 'not_found_on_deny_list',
    },
  });

  assert.equal(outcome.url, '/v1/events');
  assert.equal(outcome.headers['content-type'], 'application/json');
  assert.equal(outcome.headers.authorization, `Bearer ${API_KEY}`);
  assert.deepEqual(outcome.json, {
    type: 'login_succeeded', user_id: 'auth0|ana', ip: '175.16.199.1', evaluation_id: '00000000000000ab',
    device_id: 'dev-42', user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0', tenant: 'brand-a',
  });
});

test('step_up enables MFA without remembering the browser; deny denies', async (t) => {
  logs(t);
  for (const [decision, want] of [
    ['step_up', { name: 'multifactor.enable', args: ['any', { allowRememberBrowser: false }] }],
    ['deny', { name: 'access.deny', args: [DENY_MESSAGE] }],
  ]) {
    const riskd = await mockRiskd(t, answering(decision));
    const m = mockApi();
    await run(loginEvent(riskd.url), m.api);
    assert.deepEqual(m.calls, [want], decision);
    assert.deepEqual(riskd.requests.map((r) => r.url), ['/v1/decide'], `${decision}: no outcome is reported`);
  }
});

test('the device id is sent only when the application passes one and the secret names its parameter', async (t) => {
  logs(t);
  const riskd = await mockRiskd(t, answering('allow'));
  await run(loginEvent(riskd.url), mockApi().api);
  assert.equal(riskd.requests[0].json.device_id, undefined);
});

// Every way riskd can fail to give a decision, each within the timeout.
const failures = {
  'a 503': (r, req, res) => json(res, 503, { error: { code: 'overloaded', message: 'm' } }),
  'a 500': (r, req, res) => json(res, 500, { error: { code: 'internal', message: 'm' } }),
  'a 401': (r, req, res) => json(res, 401, { error: { code: 'unauthorized', message: 'm' } }),
  'a 400': (r, req, res) => json(res, 400, { error: { code: 'too_long', field: 'user_id', message: 'm' } }),
  'a garbage body': (r, req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('<html>gateway'); },
  'a JSON body without a decision': (r, req, res) => json(res, 200, { decision: 'maybe' }),
  'a connection reset': (r, req) => { req.socket.destroy(); },
  'a stall': () => {},
  'a stall halfway through the body': (r, req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' });
    res.write('{"decision":"deny",');
  },
};

for (const [name, handler] of Object.entries(failures)) {
  test(`${name} falls back to the fail policy within the timeout`, async (t) => {
    const lines = logs(t);
    const riskd = await mockRiskd(t, handler);
    for (const [policy, want] of [
      [undefined, []],
      ['allow', []],
      ['step_up', ['multifactor.enable']],
      ['deny', ['access.deny']],
    ]) {
      const m = mockApi();
      const ev = loginEvent(riskd.url, { RISKD_FAIL_POLICY: policy, RISKD_TIMEOUT_MS: '200' });
      await within(200, 'the fallback', () => run(ev, m.api));
      assert.deepEqual(m.names(), want, `policy ${policy}`);
    }
    const fallbacks = lines.filter((l) => l.riskd === 'fallback');
    assert.equal(fallbacks.length, 4, JSON.stringify(lines));
    assert.deepEqual(fallbacks.map((l) => l.decision), ['allow', 'allow', 'step_up', 'deny']);
    assert.ok(riskd.requests.every((r) => r.url === '/v1/decide'), 'no outcome follows a fallback');
  });
}

test('the fallback log names the cause: status and riskd error code, or timeout', async (t) => {
  const lines = logs(t);
  const bad = await mockRiskd(t, failures['a 400']);
  await run(loginEvent(bad.url), mockApi().api);
  const stall = await mockRiskd(t, failures['a stall']);
  await run(loginEvent(stall.url, { RISKD_TIMEOUT_MS: '200' }), mockApi().api);
  assert.deepEqual(lines.map((l) => l.cause), ['riskd answered 400: too_long user_id', 'timeout']);
  assert.ok(!JSON.stringify(lines).includes(API_KEY), 'the API key is never logged');
});

test('an unreachable riskd, a missing URL and bad secrets fall back; the Action never throws', async (t) => {
  const lines = logs(t);
  const riskd = await mockRiskd(t, () => {});
  const closed = riskd.url.replace(/:\d+$/, ':1'); // nothing listens on port 1
  let m = mockApi();
  await run(loginEvent(closed, { RISKD_FAIL_POLICY: 'deny' }), m.api);
  assert.deepEqual(m.names(), ['access.deny']);

  m = mockApi();
  await run(loginEvent(undefined, { RISKD_FAIL_POLICY: 'step_up' }), m.api);
  assert.deepEqual(m.names(), ['multifactor.enable']);

  m = mockApi();
  await run(loginEvent(closed, { RISKD_FAIL_POLICY: 'sometimes', RISKD_TIMEOUT_MS: '-5' }), m.api);
  assert.deepEqual(m.names(), [], 'a bad fail policy is replaced by allow');
  assert.ok(lines.some((l) => l.riskd === 'config' && /RISKD_FAIL_POLICY/.test(l.cause)));
  assert.ok(lines.some((l) => l.riskd === 'config' && /RISKD_TIMEOUT_MS/.test(l.cause)));
});

test('a stalled outcome report does not hold the login beyond its own budget', async (t) => {
  const lines = logs(t);
  // The budget runs from when the report is sent: the mock notes when it arrives, and starts a plain timer of
  // the same length there to tell the Action's delay from a loaded machine's late timers.
  let arrived = 0;
  let timer;
  const riskd = await mockRiskd(t, (r, req, res) => {
    if (r.url === '/v1/decide') return answering('allow')(r, req, res);
    arrived = performance.now();
    timer = new Promise((resolve) => setTimeout(() => resolve(performance.now() - arrived), 100));
    // never answered
  });
  const m = mockApi();
  await run(loginEvent(riskd.url, { RISKD_EVENTS_TIMEOUT_MS: '100' }), m.api);
  const waited = performance.now() - arrived;
  assert.deepEqual(m.calls, []);
  assert.ok(arrived > 0, 'the outcome was sent');
  if (waited > 100 + 50) {
    const fired = await timer;
    assert.ok(waited <= Math.max(100, fired) + 50,
      `the login waited ${waited.toFixed(0)} ms for a stalled outcome (budget 100 ms; a 100 ms timer fired after ${fired.toFixed(0)} ms)`);
  }
  assert.deepEqual(lines.filter((l) => l.riskd === 'outcome_lost').map((l) => l.cause), ['timeout']);
});

test('a refresh-token exchange is not a login: riskd is not asked', async (t) => {
  logs(t);
  const riskd = await mockRiskd(t, answering('deny'));
  const ev = loginEvent(riskd.url);
  ev.transaction.protocol = 'oauth2-refresh-token';
  const m = mockApi();
  await run(ev, m.api);
  assert.deepEqual(m.calls, []);
  assert.equal(riskd.requests.length, 0);
});

test('the request stays within riskd limits whatever Auth0 sends', async (t) => {
  const lines = logs(t);
  const riskd = await mockRiskd(t, answering('allow'));
  const ev = loginEvent(riskd.url, { RISKD_DEVICE_QUERY_PARAM: 'riskd_device' });
  ev.request.user_agent = 'é'.repeat(600) + '\n'; // 1,200 bytes
  ev.request.query.riskd_device = 'd\u0000' + 'x'.repeat(300);
  ev.user.user_id = 'auth0|ana\uD800'; // a lone surrogate: JSON.stringify would send invalid UTF-8
  ev.tenant.id = 'not a tenant!';
  const assessments = {};
  for (let i = 0; i < 20; i++) assessments[`Signal${i}` + 'Long'.repeat(20)] = { confidence: 'low', code: 'c'.repeat(300) };
  ev.authentication.riskAssessment = { confidence: 'neutral', version: 1, assessments };
  await run(ev, mockApi().api);

  const body = riskd.requests[0].json;
  assert.equal(Buffer.byteLength(body.user_agent), 1024);
  assert.equal(body.user_agent, 'é'.repeat(512));
  assert.equal(body.device_id, 'd' + 'x'.repeat(255));
  assert.equal(body.user_id, 'auth0|ana\uFFFD');
  assert.equal(body.tenant, undefined, 'a tenant riskd would refuse is not sent');
  assert.ok(lines.some((l) => l.riskd === 'config' && /tenant/.test(l.cause)));
  const attrs = Object.entries(body.attributes);
  assert.equal(attrs.length, 16);
  assert.equal(body.attributes.auth0_risk_version, '1');
  for (const [k, v] of attrs) {
    assert.ok(Buffer.byteLength(k) <= 64, k);
    assert.ok(Buffer.byteLength(v) <= 256, k);
  }
});

test('clean cuts at a character boundary', () => {
  const { clean } = action.internal;
  assert.equal(clean('x'.repeat(254) + '\u{1F600}', 256), 'x'.repeat(254));
  assert.equal(clean('x'.repeat(252) + '\u{1F600}', 256), 'x'.repeat(252) + '\u{1F600}');
  assert.equal(clean('a\tb\u007fc', 256), 'abc');
  assert.equal(clean(42, 256), '');
});

test('without a risk assessment no attributes are sent', async (t) => {
  logs(t);
  const riskd = await mockRiskd(t, answering('allow'));
  const ev = loginEvent(riskd.url);
  delete ev.authentication.riskAssessment;
  await run(ev, mockApi().api);
  assert.equal(riskd.requests[0].json.attributes, undefined);
});

test('challenge mode: step_up challenges the enrolled factors, then the report Action reports mfa_passed', async (t) => {
  logs(t);
  const riskd = await mockRiskd(t, answering('step_up'));
  const ev = loginEvent(riskd.url, { RISKD_STEP_UP: 'challenge', RISKD_DEVICE_QUERY_PARAM: 'riskd_device' });
  const m = mockApi();
  await run(ev, m.api);
  assert.deepEqual(m.calls, [
    { name: 'authentication.challengeWithAny', args: [[{ type: 'otp' }, { type: 'webauthn-platform' }]] },
    { name: 'user.setAppMetadata', args: [PENDING_KEY, { evaluation_id: '00000000000000ab', device_id: 'dev-42', tenant: 'brand-a' }] },
  ]);

  // Auth0 runs the next Action once the challenge is passed, with the metadata and the mfa method.
  ev.user.app_metadata = { [PENDING_KEY]: m.calls[1].args[1] };
  ev.authentication.methods.push({ name: 'mfa', type: 'otp', timestamp: '2026-12-05T06:00:30.000Z' });
  const r = mockApi();
  await reportAction.onExecutePostLogin(ev, r.api);
  assert.deepEqual(r.calls, [{ name: 'user.setAppMetadata', args: [PENDING_KEY, undefined] }]);
  const outcome = riskd.requests[1];
  assert.equal(outcome.url, '/v1/events');
  assert.equal(outcome.headers.authorization, `Bearer ${API_KEY}`);
  assert.equal(outcome.headers['content-type'], 'application/json');
  assert.deepEqual(outcome.json, {
    type: 'mfa_passed', user_id: 'auth0|ana', ip: '175.16.199.1', evaluation_id: '00000000000000ab',
    user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0', device_id: 'dev-42', tenant: 'brand-a',
  });
});

test('challenge mode without an enrolled factor falls back to Auth0 MFA (enrolment)', async (t) => {
  logs(t);
  const riskd = await mockRiskd(t, answering('step_up'));
  const ev = loginEvent(riskd.url, { RISKD_STEP_UP: 'challenge' });
  ev.user.enrolledFactors = [];
  const m = mockApi();
  await run(ev, m.api);
  assert.deepEqual(m.names(), ['multifactor.enable']);
});

test('the report Action reports nothing without a pending evaluation or a passed MFA, and a stall costs its budget only', async (t) => {
  const lines = logs(t);
  const riskd = await mockRiskd(t, () => {}); // stalls
  const ev = loginEvent(riskd.url);
  let m = mockApi();
  await reportAction.onExecutePostLogin(ev, m.api);
  assert.deepEqual(m.calls, []);

  ev.user.app_metadata = { [PENDING_KEY]: { evaluation_id: '00000000000000ab' } };
  m = mockApi();
  await reportAction.onExecutePostLogin(ev, m.api);
  assert.deepEqual(m.names(), ['user.setAppMetadata'], 'the pending evaluation is cleared');
  assert.equal(riskd.requests.length, 0, 'no mfa method: nothing reported');

  ev.authentication.methods.push({ name: 'mfa', type: 'otp', timestamp: '2026-12-05T06:00:30.000Z' });
  ev.secrets.RISKD_EVENTS_TIMEOUT_MS = '100';
  await within(100, 'the report', () => reportAction.onExecutePostLogin(ev, mockApi().api));
  assert.deepEqual(lines.map((l) => l.cause), ['timeout']);
});

// Against a real riskd (built-in rules, MaxMind's test GeoIP databases), started by integrations_test.go.
test('against a real riskd: allow, step_up and deny reach Auth0 as documented', { skip: !process.env.RISKD_TEST_URL &&
  'RISKD_TEST_URL is not set: `go test ./integrations/` runs this test against a real riskd' }, async (t) => {
  const lines = logs(t);
  const secrets = { RISKD_URL: process.env.RISKD_TEST_URL, RISKD_API_KEY: process.env.RISKD_TEST_API_KEY,
    RISKD_TIMEOUT_MS: '5000', RISKD_EVENTS_TIMEOUT_MS: '2000', RISKD_DEVICE_QUERY_PARAM: 'riskd_device' };
  const cases = [
    // A first login from Milton, US: nothing known against it.
    ['216.160.83.56', 'auth0|real-allow', []],
    // A Tor exit (60): step up.
    ['65.0.0.1', 'auth0|real-step-up', ['multifactor.enable']],
    // Every anonymous flag at once (100): deny.
    ['81.2.69.1', 'auth0|real-deny', ['access.deny']],
  ];
  for (const [ip, user, want] of cases) {
    const ev = loginEvent(secrets.RISKD_URL, secrets);
    ev.request.ip = ip;
    ev.user.user_id = user;
    const m = mockApi();
    await run(ev, m.api);
    assert.deepEqual(m.names(), want, `${ip}: ${JSON.stringify(lines)}`);
  }
  assert.deepEqual(lines.filter((l) => l.riskd !== 'decision'), [], 'no fallback, no lost outcome');
  assert.deepEqual(lines.map((l) => l.decision), ['allow', 'step_up', 'deny']);
});

/**
 * riskd: Auth0 post-login Action ("riskd decide").
 *
 * Asks riskd (POST /v1/decide) whether this login may go on, and enforces the answer:
 *   allow   -> nothing; the login goes on (and login_succeeded is reported to riskd)
 *   step_up -> api.multifactor.enable (or, with RISKD_STEP_UP=challenge, api.authentication.challengeWithAny,
 *              after which the "riskd report" Action, report-action.js, reports mfa_passed)
 *   deny    -> api.access.deny
 * When riskd does not answer in time, cannot be reached, answers other than 200 or with a body that is not a
 * decision, the Action applies the fail policy (RISKD_FAIL_POLICY, default allow: an outage of riskd must not
 * lock every customer out) and logs why. Nothing riskd does makes this Action throw.
 *
 * Secrets (Actions > this Action > Secrets):
 *   RISKD_URL                  base URL of riskd, e.g. https://riskd.example.com (required)
 *   RISKD_API_KEY              a riskd API key with the decide scope (sent as Authorization: Bearer)
 *   RISKD_TIMEOUT_MS           budget of the decide call, whole answer included (default 300, at most 5000)
 *   RISKD_EVENTS_TIMEOUT_MS    budget of an outcome report (default 150, at most 2000)
 *   RISKD_FAIL_POLICY          allow | step_up | deny: the decision when riskd gives none (default allow)
 *   RISKD_STEP_UP              multifactor (default) | challenge
 *   RISKD_TENANT               riskd tenant (brand) when the application's metadata names none
 *   RISKD_DEVICE_QUERY_PARAM   name of an /authorize parameter carrying the application's own device id
 *
 * Self-contained on purpose: an Action cannot require files beside it, and needs no npm package (global fetch
 * and AbortSignal.timeout come with Auth0's Node 18+ runtime).
 */
'use strict';

const DECISIONS = ['allow', 'step_up', 'deny'];
const CHANNELS = ['web', 'mobile', 'store', 'call_center', 'api'];
const MFA_PREFERENCES = ['always', 'sensitive', 'adaptive'];

// riskd's bounds on a /v1/decide body (server/decode.go); a value over them would make riskd refuse the whole
// request with 400, and the login would fall to the fail policy for a reason the user cannot help.
const MAX_ID_BYTES = 256;
const MAX_USER_AGENT_BYTES = 1024;
const MAX_ATTRIBUTES = 16;
const MAX_ATTRIBUTE_KEY_BYTES = 64;
const MAX_ATTRIBUTE_VALUE_BYTES = 256;
const TENANT = /^[A-Za-z0-9_.-]{1,64}$/;

// Shown to the user: it must not tell an attacker which signal gave them away.
const DENY_MESSAGE = 'This login was blocked for security reasons. Please contact support.';
// Where the challenge mode leaves the evaluation for the report Action (event.user is read-only in Actions;
// app_metadata set by one Action is what the next one sees, and report-action.js clears it again).
const PENDING_KEY = 'riskd_evaluation';

exports.onExecutePostLogin = async (event, api) => {
  // A refresh-token exchange is not a login the user is present for: MFA cannot be asked, and counting it as
  // one would teach riskd logins that did not happen.
  if (event.transaction && event.transaction.protocol === 'oauth2-refresh-token') return;
  const cfg = config(event.secrets || {});

  const started = Date.now();
  const request = decideRequest(event, cfg);
  let answer = null;
  if (!cfg.url) {
    log('fallback', { cause: 'RISKD_URL is not set', decision: cfg.failPolicy });
  } else {
    try {
      answer = await decide(cfg, request);
    } catch (err) {
      log('fallback', { cause: describe(err), decision: cfg.failPolicy, took_ms: Date.now() - started });
    }
  }
  const decision = answer ? answer.decision : cfg.failPolicy;
  if (answer) {
    log('decision', { decision, evaluation_id: answer.evaluation_id, score: answer.score,
      reasons: answer.reasons, took_ms: Date.now() - started });
  }

  switch (decision) {
    case 'deny':
      api.access.deny(DENY_MESSAGE);
      return;
    case 'step_up':
      stepUp(event, api, cfg, request, answer);
      return;
  }
  // allow. The decision already taught riskd this login; the outcome says it went through. Awaited, with its
  // own short budget: the runtime may be frozen once the Action returns, so a request left running could be
  // lost, and one that is slow must not hold the login.
  if (answer && answer.evaluation_id) {
    await report(cfg, outcome('login_succeeded', request, answer.evaluation_id));
  }
};

// config reads the Action's secrets. A malformed value is logged and replaced by its default, never thrown.
function config(secrets) {
  const cfg = {
    url: typeof secrets.RISKD_URL === 'string' ? secrets.RISKD_URL.trim().replace(/\/+$/, '') : '',
    apiKey: typeof secrets.RISKD_API_KEY === 'string' ? secrets.RISKD_API_KEY.trim() : '',
    timeoutMs: millis(secrets.RISKD_TIMEOUT_MS, 300, 5000, 'RISKD_TIMEOUT_MS'),
    eventsTimeoutMs: millis(secrets.RISKD_EVENTS_TIMEOUT_MS, 150, 2000, 'RISKD_EVENTS_TIMEOUT_MS'),
    failPolicy: 'allow',
    stepUp: secrets.RISKD_STEP_UP === 'challenge' ? 'challenge' : 'multifactor',
    tenant: secrets.RISKD_TENANT,
    deviceParam: typeof secrets.RISKD_DEVICE_QUERY_PARAM === 'string' ? secrets.RISKD_DEVICE_QUERY_PARAM : '',
  };
  const policy = secrets.RISKD_FAIL_POLICY;
  if (DECISIONS.includes(policy)) {
    cfg.failPolicy = policy;
  } else if (policy !== undefined && policy !== '') {
    log('config', { cause: 'RISKD_FAIL_POLICY must be allow, step_up or deny; using allow' });
  }
  return cfg;
}

function millis(v, def, max, name) {
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    log('config', { cause: `${name} must be a positive whole number of milliseconds; using ${def}` });
    return def;
  }
  return Math.min(n, max);
}

// decideRequest builds the /v1/decide body from the post-login event.
function decideRequest(event, cfg) {
  const req = event.request || {};
  const user = event.user || {};
  const body = {
    type: 'login',
    user_id: clean(user.user_id, MAX_ID_BYTES),
    ip: typeof req.ip === 'string' ? req.ip : '',
    // post-login runs only once the first factor has succeeded.
    credentials_valid: true,
  };
  const ua = clean(req.user_agent, MAX_USER_AGENT_BYTES);
  if (ua) body.user_agent = ua;
  const device = deviceID(event, cfg);
  if (device) body.device_id = device;
  const tenant = tenantOf(event, cfg);
  if (tenant) body.tenant = tenant;
  const clientMeta = (event.client && event.client.metadata) || {};
  if (CHANNELS.includes(clientMeta.riskd_channel)) body.channel = clientMeta.riskd_channel;
  const pref = user.app_metadata && user.app_metadata.riskd_mfa_preference;
  if (MFA_PREFERENCES.includes(pref)) body.mfa_preference = pref;
  const attributes = riskAttributes(event.authentication && event.authentication.riskAssessment);
  if (Object.keys(attributes).length > 0) body.attributes = attributes;
  return body;
}

// deviceID is the application's own device id, when it passes one to /authorize (Auth0 gives an Action no
// device cookie). Without it riskd scores no device signals (new_device, trusted_device are false) and relies
// on the network, place, client and velocity signals. A hash of the user agent is no substitute: thousands of
// people share one, and riskd would see one "device" used by many users.
function deviceID(event, cfg) {
  if (!cfg.deviceParam) return '';
  const q = (event.request && event.request.query) || {};
  return clean(q[cfg.deviceParam], MAX_ID_BYTES);
}

// tenantOf names the brand: the application's metadata riskd_tenant, else RISKD_TENANT, else the Auth0
// tenant's id. A name riskd would refuse is dropped (riskd then uses "default") rather than failing the call.
function tenantOf(event, cfg) {
  const fromClient = event.client && event.client.metadata && event.client.metadata.riskd_tenant;
  const name = fromClient || cfg.tenant || (event.tenant && event.tenant.id) || '';
  if (name === '' || TENANT.test(name)) return name;
  log('config', { cause: 'the riskd tenant may hold only letters, digits, _ - . (64 at most); sending none' });
  return '';
}

// riskAttributes flattens Auth0's riskAssessment into riskd attributes (at most 16 strings): the overall
// confidence and version first, then each assessment's confidence and code (ImpossibleTravel, NewDevice and
// UntrustedIP before any others Auth0 adds), e.g. auth0_new_device_confidence: "low".
function riskAttributes(ra) {
  const attrs = {};
  if (!ra || typeof ra !== 'object') return attrs;
  let n = 0;
  const put = (key, value) => {
    if (n >= MAX_ATTRIBUTES || !['string', 'number', 'boolean'].includes(typeof value)) return;
    const v = clean(String(value), MAX_ATTRIBUTE_VALUE_BYTES);
    if (v === '' || key in attrs) return;
    attrs[key] = v;
    n++;
  };
  put('auth0_risk_confidence', ra.confidence);
  put('auth0_risk_version', ra.version);
  const assessments = ra.assessments && typeof ra.assessments === 'object' ? ra.assessments : {};
  const first = ['ImpossibleTravel', 'NewDevice', 'UntrustedIP'];
  const rank = (name) => (first.includes(name) ? first.indexOf(name) : first.length);
  const names = Object.keys(assessments).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  // "auth0_" + name + "_confidence" must fit riskd's 64-byte attribute names.
  const room = MAX_ATTRIBUTE_KEY_BYTES - 'auth0_'.length - '_confidence'.length;
  for (const name of names) {
    const a = assessments[name];
    const base = 'auth0_' + snake(name).slice(0, room);
    if (!a || typeof a !== 'object' || base === 'auth0_') continue;
    put(base + '_confidence', a.confidence);
    put(base + '_code', a.code);
  }
  return attrs;
}

// snake turns an assessment name (ImpossibleTravel) into an attribute name part (impossible_travel).
function snake(name) {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().replace(/[^a-z0-9_]/g, '');
}

// A UTF-16 surrogate without its pair: JSON.stringify escapes it, and riskd would refuse the invalid UTF-8.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

// clean makes v a string riskd accepts: well-formed UTF-8 without control characters, cut at a character
// boundary to at most maxBytes bytes. Anything but a string gives "". (String.prototype.toWellFormed would do
// the first part, but Node 18, an Auth0 runtime and Debian 12's node, lacks it.)
function clean(v, maxBytes) {
  if (typeof v !== 'string') return '';
  const s = v.replace(LONE_SURROGATE, '\uFFFD').replace(/[\u0000-\u001f\u007f]/g, '');
  if (Buffer.byteLength(s) <= maxBytes) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const b = Buffer.byteLength(ch);
    if (bytes + b > maxBytes) break;
    out += ch;
    bytes += b;
  }
  return out;
}

// decide calls /v1/decide and returns riskd's answer; it throws (for the caller's fail policy) on a timeout,
// a network error, any status but 200, or a body that is not a decision.
async function decide(cfg, body) {
  const { status, text } = await post(cfg, '/v1/decide', body, cfg.timeoutMs);
  if (status !== 200) throw new Error(`riskd answered ${status}: ${errorSummary(text)}`);
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new Error('riskd answered 200 with a body that is not JSON');
  }
  if (!answer || !DECISIONS.includes(answer.decision)) {
    throw new Error('riskd answered 200 without a decision of allow, step_up or deny');
  }
  return answer;
}

// post sends body as JSON; the timeout covers the whole exchange, headers and body read alike, so a riskd
// that stalls halfway through its answer costs no more than one that never answers.
async function post(cfg, path, body, timeoutMs) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (cfg.apiKey) headers.Authorization = `Bearer ${cfg.apiKey}`;
  const res = await fetch(cfg.url + path, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, text: await res.text() };
}

// errorSummary keeps riskd's error code and field (e.g. "too_long user_id") for the log, not the whole body.
function errorSummary(text) {
  try {
    const e = JSON.parse(text).error;
    if (e && typeof e.code === 'string') return e.field ? `${e.code} ${e.field}` : e.code;
  } catch {
    // not riskd's JSON error: a proxy's page, say
  }
  return 'no riskd error body';
}

function stepUp(event, api, cfg, request, answer) {
  const factors = (event.user && event.user.enrolledFactors) || [];
  const canChallenge = api.authentication && typeof api.authentication.challengeWithAny === 'function';
  if (cfg.stepUp === 'challenge' && canChallenge && factors.length > 0) {
    // Actions after this one run once the challenge is passed: report-action.js reports mfa_passed.
    api.authentication.challengeWithAny(factors.map((f) => ({ type: f.type })));
    if (answer && answer.evaluation_id) {
      api.user.setAppMetadata(PENDING_KEY, { evaluation_id: answer.evaluation_id,
        device_id: request.device_id || '', tenant: request.tenant || '' });
    }
    return;
  }
  // Auth0's MFA prompt; with no factor enrolled, the user enrols one. Remembering the browser would let the
  // next login skip a step-up that riskd asks for then.
  api.multifactor.enable('any', { allowRememberBrowser: false });
}

// outcome builds a /v1/events body from the decide request it follows.
function outcome(type, request, evaluationID) {
  const o = { type, user_id: request.user_id, ip: request.ip, evaluation_id: evaluationID };
  for (const k of ['device_id', 'user_agent', 'tenant']) if (request[k]) o[k] = request[k];
  return o;
}

// report sends an outcome within the events budget; a lost outcome costs riskd a little learning, never a
// login, so it is logged and dropped.
async function report(cfg, body) {
  try {
    const { status, text } = await post(cfg, '/v1/events', body, cfg.eventsTimeoutMs);
    if (status !== 200) log('outcome_lost', { type: body.type, cause: `riskd answered ${status}: ${errorSummary(text)}` });
  } catch (err) {
    log('outcome_lost', { type: body.type, cause: describe(err) });
  }
}

function describe(err) {
  if (err && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timeout';
  const cause = err && err.cause && (err.cause.code || err.cause.message);
  return cause ? `${err.message}: ${cause}` : String(err && err.message ? err.message : err);
}

// log writes one JSON line to the Action's logs. It never holds a secret, and only riskd's reason codes.
function log(what, fields) {
  const line = { riskd: what, ...fields };
  if (Array.isArray(line.reasons)) line.reasons = line.reasons.map((r) => r && r.code);
  console.log(JSON.stringify(line));
}

// For the tests (node --test); Auth0 calls only onExecutePostLogin.
exports.internal = { decideRequest, riskAttributes, clean, config, PENDING_KEY, DENY_MESSAGE };

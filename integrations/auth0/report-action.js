/**
 * riskd: Auth0 post-login Action ("riskd report"), for RISKD_STEP_UP=challenge.
 *
 * Place it right after "riskd decide" (action.js) in the Login flow, with the same RISKD_URL and RISKD_API_KEY
 * secrets. When riskd asked for a step-up, action.js challenged the user with
 * api.authentication.challengeWithAny; Auth0 runs the Actions after it only once the challenge is passed, and
 * shows the passed factor in event.authentication.methods (as {name: "mfa", type, timestamp}) from the next
 * Action on. This Action then reports mfa_passed with the decision's evaluation_id, so riskd trusts the device
 * and learns the place. With api.multifactor.enable (the default step-up) no Action runs after the MFA prompt,
 * so Auth0 cannot report mfa_passed that way.
 *
 * The report has a short budget (RISKD_EVENTS_TIMEOUT_MS, default 150) and its failure is only logged: a lost
 * outcome costs riskd a little learning, never a login.
 */
'use strict';

const PENDING_KEY = 'riskd_evaluation';

exports.onExecutePostLogin = async (event, api) => {
  const meta = (event.user && event.user.app_metadata) || {};
  const pending = meta[PENDING_KEY];
  if (!pending) return;
  // The evaluation was passed through app_metadata only to reach this Action: unset, it is never written to
  // the user's profile.
  api.user.setAppMetadata(PENDING_KEY, undefined);
  const methods = (event.authentication && event.authentication.methods) || [];
  if (typeof pending.evaluation_id !== 'string' || !methods.some((m) => m && m.name === 'mfa')) return;

  const secrets = event.secrets || {};
  const url = typeof secrets.RISKD_URL === 'string' ? secrets.RISKD_URL.trim().replace(/\/+$/, '') : '';
  if (!url) return;
  const n = Number(secrets.RISKD_EVENTS_TIMEOUT_MS);
  const timeoutMs = Number.isInteger(n) && n > 0 ? Math.min(n, 2000) : 150;
  const req = event.request || {};
  const body = {
    type: 'mfa_passed',
    user_id: event.user.user_id,
    ip: req.ip,
    evaluation_id: pending.evaluation_id,
  };
  if (typeof req.user_agent === 'string' && req.user_agent) {
    // riskd takes at most 1024 bytes: 341 UTF-16 units are at most 1023 bytes of UTF-8.
    body.user_agent = req.user_agent.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 341)
      .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  }
  if (pending.device_id) body.device_id = pending.device_id;
  if (pending.tenant) body.tenant = pending.tenant;
  const headers = { 'Content-Type': 'application/json' };
  if (secrets.RISKD_API_KEY) headers.Authorization = `Bearer ${String(secrets.RISKD_API_KEY).trim()}`;
  try {
    const res = await fetch(url + '/v1/events', {
      method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs),
    });
    await res.text();
    if (res.status !== 200) console.log(JSON.stringify({ riskd: 'outcome_lost', type: body.type, cause: `riskd answered ${res.status}` }));
  } catch (err) {
    const cause = err && (err.name === 'TimeoutError' ? 'timeout' : err.message);
    console.log(JSON.stringify({ riskd: 'outcome_lost', type: body.type, cause }));
  }
};

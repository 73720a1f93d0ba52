// The body of every riskd web_hook in Ory Kratos (v1.x): login before and after, registration before and after.
// POST /v1/adapters/kratos/{login,registration}/{before,after} reads it (docs/INTEGRATING.md, api/openapi.yaml).
//
// It sends what riskd decides on and nothing more: never the identity's traits (e-mail, name), never Kratos's
// cookies. The client's address comes from the request headers Kratos forwards (True-Client-Ip, which the proxy
// in front of Kratos must set and overwrite; riskd's --kratos-ip-header names another), the device from the
// application's own first-party cookie, here "riskd_device" (see docs/INTEGRATING.md on device_id).
function(ctx)
  local has(o, k) = o != null && std.objectHas(o, k);
  {
    flow: {
      id: ctx.flow.id,
      type: ctx.flow.type,
      [if has(ctx.flow, 'active') then 'active']: ctx.flow.active,
      [if has(ctx.flow, 'requested_aal') then 'requested_aal']: ctx.flow.requested_aal,
    },
    request_headers: ctx.request_headers,
    [if has(ctx, 'identity') then 'identity']: { id: ctx.identity.id },
    [if has(ctx, 'session') then 'session']: {
      authenticator_assurance_level: ctx.session.authenticator_assurance_level,
    },
    // A cookie is the browser's to send: one longer than riskd takes (256 bytes) is left out rather than let
    // riskd refuse the hook, which would fail the login.
    [if has(ctx, 'request_cookies') && has(ctx.request_cookies, 'riskd_device') &&
        std.length(ctx.request_cookies.riskd_device) <= 256 then 'device_id']:
      ctx.request_cookies.riskd_device,
  }

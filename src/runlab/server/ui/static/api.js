// Calls to runlab's REST API from the UI, and showing their outcome in the page.

const PREFIX = "/ajax-api/2.0/";

// On a server with sign-in, the page carries its session's CSRF token; every change is sent
// with it, or the server refuses the change (403).
const csrfMeta = document.querySelector('meta[name="runlab-csrf"]');
const CSRF_TOKEN = csrfMeta ? csrfMeta.content : "";

async function send(url, init) {
  const headers = new Headers(init.headers || {});
  if (CSRF_TOKEN && init.method && init.method !== "GET") headers.set("X-CSRF-Token", CSRF_TOKEN);
  let response;
  try {
    response = await fetch(url, { ...init, headers });
  } catch (err) {
    throw new Error(`The server could not be reached (${err.message}).`);
  }
  if (response.status === 401 && CSRF_TOKEN) {
    // The session ended (expired, or signed out in another tab): sign in again, then back here.
    const here = window.location.pathname + window.location.search;
    window.location.assign(`/login?next=${encodeURIComponent(here)}`);
  }
  const text = await response.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    // A proxy's HTML error page, say: show its status rather than a parse error.
  }
  if (!response.ok) {
    throw new Error(data.message || `${response.status} ${response.statusText}`);
  }
  return data;
}

/** POST a JSON body to an MLflow endpoint; resolve with the reply, reject with its message. */
export function post(path, body) {
  return send(PREFIX + "mlflow/" + path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** PATCH or DELETE a JSON body to an MLflow endpoint (the registry uses both). */
export function call(method, path, body) {
  return send(PREFIX + "mlflow/" + path, {
    method,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/**
 * Send ``method`` with a JSON body to a path of this server (``"/logout"``,
 * ``"/ajax-api/2.0/runlab/tokens/revoke"``): for calls outside the MLflow family.
 */
export function callApi(method, url, body) {
  return send(url, {
    method,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/**
 * GET an endpoint with query parameters. ``path`` starts with the API family:
 * ``"mlflow/runs/get"`` or ``"runlab/metrics/downsampled"``. Array values repeat the key.
 */
export function get(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) query.append(key, String(item));
  }
  const qs = query.toString();
  return send(PREFIX + path + (qs ? `?${qs}` : ""), { method: "GET" });
}

/** Show a message in the page's notice bar (an error unless ok is true). */
export function notify(message, ok = false) {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.classList.toggle("ok", ok);
  box.hidden = false;
}

// Calls to runlab's REST API from the UI, and showing their outcome in the page.

const PREFIX = "/ajax-api/2.0/";

async function send(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new Error(`The server could not be reached (${err.message}).`);
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

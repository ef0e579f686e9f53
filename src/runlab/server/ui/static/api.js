// Calls to runlab's REST API from the UI, and showing their outcome in the page.

const PREFIX = "/ajax-api/2.0/mlflow/";

/** POST a JSON body to an MLflow endpoint; resolve with the reply, reject with its message. */
export async function post(path, body) {
  let response;
  try {
    response = await fetch(PREFIX + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
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

/** Show a message in the page's notice bar (an error unless ok is true). */
export function notify(message, ok = false) {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.classList.toggle("ok", ok);
  box.hidden = false;
}

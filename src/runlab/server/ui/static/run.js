// The run page: editable description and tags, table filters, lazy metric charts, artifacts.
import { notify, post } from "runlab/api.js";
import { chartControls, drawMetricChart, whenVisible } from "runlab/charts.js";
import { enableRowNavigation } from "runlab/keyboard.js";

const root = document.getElementById("run");
const runId = root.dataset.runId;

const NOTE_TAG = "mlflow.note.content";

// -- description -----------------------------------------------------------------------------

const descriptionText = document.getElementById("description-text");
const descriptionForm = document.getElementById("description-form");
const descriptionInput = document.getElementById("description-input");
const editDescription = document.getElementById("edit-description");

function showDescriptionEditor(editing) {
  descriptionForm.hidden = !editing;
  descriptionText.hidden = editing;
  editDescription.hidden = editing;
  editDescription.setAttribute("aria-expanded", String(editing));
  if (editing) descriptionInput.focus();
}

function cancelDescription() {
  descriptionInput.value = descriptionText.classList.contains("empty") ? "" : descriptionText.textContent;
  showDescriptionEditor(false);
  editDescription.focus();
}

editDescription.addEventListener("click", () => showDescriptionEditor(true));
document.getElementById("cancel-description").addEventListener("click", cancelDescription);
descriptionForm.addEventListener("keydown", (event) => {
  // Escape gives up the edit; Ctrl/Cmd+Enter saves without reaching for the mouse.
  if (event.key === "Escape") cancelDescription();
  else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) descriptionForm.requestSubmit();
});
descriptionForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = descriptionInput.value;
  try {
    await post("runs/set-tag", { run_id: runId, key: NOTE_TAG, value });
  } catch (err) {
    notify(`The description was not saved: ${err.message}`);
    return;
  }
  descriptionText.textContent = value || "No description.";
  descriptionText.classList.toggle("empty", !value);
  showDescriptionEditor(false);
  notify("Description saved.", true);
});

// -- table filters ---------------------------------------------------------------------------

for (const input of document.querySelectorAll("input.table-filter")) {
  const table = document.getElementById(input.dataset.table);
  input.addEventListener("input", () => {
    const needle = input.value.trim().toLowerCase();
    for (const row of table.tBodies[0].rows) {
      row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
    }
    enableRowNavigation(table);
  });
}

// -- tags ------------------------------------------------------------------------------------

async function changeTags(work, done) {
  try {
    await work();
  } catch (err) {
    notify(err.message);
    return;
  }
  notify(done, true);
  // Reloading shows the tag where the server sorts it and proves it was stored.
  window.location.reload();
}

document.getElementById("add-tag").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = event.target.elements.key.value.trim();
  const value = event.target.elements.value.value;
  if (!key) return;
  changeTags(() => post("runs/set-tag", { run_id: runId, key, value }), `Tag ${key} set.`);
});

document.getElementById("tags-table").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const row = button.closest("tr");
  const key = row.dataset.tagKey;
  if (button.dataset.action === "edit") {
    const value = window.prompt(`New value for ${key}`, row.dataset.tagValue);
    if (value === null || value === row.dataset.tagValue) return;
    changeTags(() => post("runs/set-tag", { run_id: runId, key, value }), `Tag ${key} updated.`);
  } else if (button.dataset.action === "delete") {
    if (!window.confirm(`Delete the tag ${key}?`)) return;
    changeTags(() => post("runs/delete-tag", { run_id: runId, key }), `Tag ${key} deleted.`);
  }
});

// -- charts ----------------------------------------------------------------------------------

const chartElements = Array.from(document.querySelectorAll(".metric-chart[data-metric-key]"));
const drawn = [];
let chartOptions = { x: "step", smoothing: 0, logY: false };

if (chartElements.length) {
  chartControls(document.getElementById("chart-controls"), (options) => {
    chartOptions = options;
    for (const chart of drawn) chart.update(options);
  }, chartOptions);
  // A run with a hundred metrics stays fast: a chart is fetched and drawn only when seen.
  for (const element of chartElements) {
    const key = element.dataset.metricKey;
    whenVisible(element, () => {
      drawn.push(drawMetricChart(element, [{ runId, key, label: key }], chartOptions));
    });
  }
}

// -- artifacts -------------------------------------------------------------------------------

const artifacts = document.getElementById("artifacts");
// Imported on demand so a failure there leaves the rest of the page working, and is shown.
import("runlab/artifacts.js")
  .then(({ mountArtifactBrowser }) => mountArtifactBrowser(artifacts, runId))
  .catch((err) => {
    const message = document.createElement("p");
    message.className = "error";
    message.setAttribute("role", "alert");
    message.textContent = `The artifact browser could not be loaded: ${err.message}`;
    artifacts.replaceChildren(message);
  });

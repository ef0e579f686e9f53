// The run page: editable description and tags, table filters, lazy metric charts, artifacts.
import { post } from "runlab/api.js";
import { chartControls, drawMetricChart, whenVisible } from "runlab/charts.js";
import { mountDescriptionEditor, mountTagEditor } from "runlab/editing.js";
import { enableRowNavigation } from "runlab/keyboard.js";

const root = document.getElementById("run");
const runId = root.dataset.runId;

const NOTE_TAG = "mlflow.note.content";

// -- description and tags --------------------------------------------------------------------

// The description is the run's mlflow.note.content tag, as MLflow's own UI stores it.
mountDescriptionEditor({
  save: (value) => post("runs/set-tag", { run_id: runId, key: NOTE_TAG, value }),
});

mountTagEditor({
  table: document.getElementById("tags-table"),
  form: document.getElementById("add-tag"),
  setTag: (key, value) => post("runs/set-tag", { run_id: runId, key, value }),
  deleteTag: (key) => post("runs/delete-tag", { run_id: runId, key }),
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

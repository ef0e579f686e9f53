// The runs table's interactions. The server draws the table, its sort links, pages and column
// choice; this module adds picking runs (compare, delete, restore), folding child runs under
// their parents and finding a key in the column chooser.
import { notify, post } from "runlab/api.js";

const page = document.getElementById("runs-page");
const table = document.getElementById("runs");
const selectAll = document.getElementById("select-all");
const compareButton = document.getElementById("compare");
const deleteButton = document.getElementById("delete-selected");
const restoreButton = document.getElementById("restore-selected");
const compareMax = Number(page.dataset.compareMax);

function picks() {
  return Array.from(table.querySelectorAll("input.pick"));
}

function pickedIds() {
  return picks()
    .filter((box) => box.checked)
    .map((box) => box.value);
}

// Buttons and the select-all box follow the picked rows.
function refresh() {
  const all = picks();
  const ids = pickedIds();
  const n = ids.length;
  compareButton.textContent = `Compare (${n})`;
  compareButton.disabled = n < 2 || n > compareMax;
  compareButton.title =
    n > compareMax ? `Compare takes at most ${compareMax} runs.` : "Pick two runs or more.";
  if (deleteButton) deleteButton.disabled = n === 0;
  if (restoreButton) restoreButton.disabled = n === 0;
  selectAll.checked = all.length > 0 && n === all.length;
  selectAll.indeterminate = n > 0 && n < all.length;
}

table.addEventListener("change", (event) => {
  if (event.target === selectAll) {
    picks().forEach((box) => {
      box.checked = selectAll.checked;
    });
  }
  refresh();
});

compareButton.addEventListener("click", () => {
  const query = new URLSearchParams();
  pickedIds().forEach((id) => query.append("runs", id));
  window.location.assign(`/compare?${query}`);
});

// Deleting or restoring several runs: one call each, then the page is drawn again.
async function applyToPicked(endpoint, verb) {
  const ids = pickedIds();
  let done = 0;
  try {
    for (const id of ids) {
      await post(endpoint, { run_id: id });
      done += 1;
    }
  } catch (err) {
    notify(`${verb} ${done} of ${ids.length} runs, then: ${err.message}`);
    return;
  }
  notify(`${verb} ${done} run${done === 1 ? "" : "s"}.`, true);
  window.location.reload();
}

if (deleteButton) {
  deleteButton.addEventListener("click", () => {
    const n = pickedIds().length;
    const what = n === 1 ? "this run" : `these ${n} runs`;
    if (!window.confirm(`Delete ${what}? They can be restored from the deleted view.`)) return;
    applyToPicked("runs/delete", "Deleted");
  });
}

if (restoreButton) {
  restoreButton.addEventListener("click", () => applyToPicked("runs/restore", "Restored"));
}

// Folding: hiding a parent's children hides their children too; showing them again keeps a
// folded child folded.
function setChildrenHidden(parentId, hidden) {
  table.querySelectorAll("tr[data-parent-id]").forEach((row) => {
    if (row.dataset.parentId !== parentId) return;
    row.hidden = hidden;
    const toggle = row.querySelector("button.toggle");
    const open = !toggle || toggle.getAttribute("aria-expanded") === "true";
    setChildrenHidden(row.dataset.runId, hidden || !open);
  });
}

table.addEventListener("click", (event) => {
  const toggle = event.target.closest("button.toggle");
  if (!toggle) return;
  const row = toggle.closest("tr");
  const open = toggle.getAttribute("aria-expanded") === "true";
  toggle.setAttribute("aria-expanded", String(!open));
  toggle.title = open ? "Show child runs" : "Hide child runs";
  const label = toggle.getAttribute("aria-label");
  toggle.setAttribute("aria-label", open ? label.replace("Hide", "Show") : label.replace("Show", "Hide"));
  setChildrenHidden(row.dataset.runId, open);
});

// The column chooser: typing narrows the keys shown; Escape closes it.
const chooser = document.getElementById("column-chooser");
const columnSearch = document.getElementById("column-search");
columnSearch.addEventListener("input", () => {
  const wanted = columnSearch.value.trim().toLowerCase();
  chooser.querySelectorAll("label.choice").forEach((label) => {
    label.hidden = wanted !== "" && !label.dataset.key.includes(wanted);
  });
});
chooser.addEventListener("toggle", () => {
  if (chooser.open) columnSearch.focus();
});
chooser.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    chooser.open = false;
    chooser.querySelector("summary").focus();
  }
});

refresh();

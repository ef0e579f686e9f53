// The experiments page's actions: create, rename, delete and restore through the REST API.
// "runlab/api.js" comes from the import map in base.html, which adds the cache-busting fingerprint.
import { notify, post } from "runlab/api.js";

async function act(work, done) {
  try {
    await work();
    notify(done, true);
    window.location.reload();
  } catch (err) {
    notify(err.message);
  }
}

document.getElementById("create-experiment").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = event.target.elements.name.value.trim();
  if (!name) return;
  act(() => post("experiments/create", { name }), `Created ${name}.`);
});

document.getElementById("experiments").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const row = button.closest("tr");
  const id = row.dataset.experimentId;
  const name = row.dataset.name;
  const action = button.dataset.action;
  if (action === "rename") {
    const newName = window.prompt(`New name for ${name}`, name);
    if (newName === null || newName.trim() === "" || newName === name) return;
    act(
      () => post("experiments/update", { experiment_id: id, new_name: newName.trim() }),
      `Renamed to ${newName}.`,
    );
  } else if (action === "delete") {
    if (!window.confirm(`Delete ${name}? It can be restored from the deleted view.`)) return;
    act(() => post("experiments/delete", { experiment_id: id }), `Deleted ${name}.`);
  } else if (action === "restore") {
    act(() => post("experiments/restore", { experiment_id: id }), `Restored ${name}.`);
  }
});

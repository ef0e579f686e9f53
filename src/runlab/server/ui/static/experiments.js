// The experiments page's actions: create, rename, delete and restore through the REST API.
// "runlab/api.js" comes from the import map in base.html, which adds the cache-busting fingerprint.
import { post } from "runlab/api.js";
import { actThenReload, onRowButtons, submitterOf } from "runlab/editing.js";

document.getElementById("create-experiment").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = event.target.elements.name.value.trim();
  if (!name) return;
  actThenReload(() => post("experiments/create", { name }), `Created ${name}.`, submitterOf(event));
});

onRowButtons(document.getElementById("experiments"), {
  rename: (row, button) => {
    const name = row.dataset.name;
    const newName = window.prompt(`New name for ${name}`, name);
    if (newName === null || newName.trim() === "" || newName === name) return;
    actThenReload(
      () =>
        post("experiments/update", {
          experiment_id: row.dataset.experimentId,
          new_name: newName.trim(),
        }),
      `Renamed to ${newName}.`,
      button,
    );
  },
  delete: (row, button) => {
    const name = row.dataset.name;
    if (!window.confirm(`Delete ${name}? It can be restored from the deleted view.`)) return;
    actThenReload(
      () => post("experiments/delete", { experiment_id: row.dataset.experimentId }),
      `Deleted ${name}.`,
      button,
    );
  },
  restore: (row, button) =>
    actThenReload(
      () => post("experiments/restore", { experiment_id: row.dataset.experimentId }),
      `Restored ${row.dataset.name}.`,
      button,
    ),
});

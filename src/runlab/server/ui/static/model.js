// The registered model page's changes: description, tags, aliases and stages, all through the
// REST API. A change that succeeds reloads the page, so what is shown is always what the server
// holds (history included); a refusal is shown in the notice bar and nothing else changes.
import { call, post } from "runlab/api.js";
import {
  actThenReload,
  mountDescriptionEditor,
  mountTagEditor,
  onRowButtons,
  submitterOf,
} from "runlab/editing.js";

const root = document.getElementById("model-page");
const name = root.dataset.name;

// -- description and tags ----------------------------------------------------------------------

// Saving reloads: the model's "updated" time in the header changes with its description.
mountDescriptionEditor({
  save: (description) => call("PATCH", "registered-models/update", { name, description }),
  reload: true,
});

mountTagEditor({
  table: document.getElementById("tags"),
  form: document.getElementById("tag-form"),
  setTag: (key, value) => post("registered-models/set-tag", { name, key, value }),
  deleteTag: (key) => call("DELETE", "registered-models/delete-tag", { name, key }),
});

// -- aliases -----------------------------------------------------------------------------------

function setAlias(alias, version, button) {
  actThenReload(
    () => post("registered-models/alias", { name, alias, version: String(version) }),
    `@${alias} now points at v${version}.`,
    button,
  );
}

const aliasForm = document.getElementById("alias-form");
if (aliasForm) {
  aliasForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const alias = aliasForm.elements.alias.value.trim();
    if (alias) setAlias(alias, aliasForm.elements.version.value, submitterOf(event));
  });
}

onRowButtons(document.getElementById("aliases"), {
  "move-alias": (row, button) =>
    setAlias(row.dataset.alias, row.querySelector("select").value, button),
  "delete-alias": (row, button) => {
    const alias = row.dataset.alias;
    if (!window.confirm(`Remove alias @${alias}?`)) return;
    actThenReload(
      () => call("DELETE", "registered-models/alias", { name, alias }),
      `@${alias} removed.`,
      button,
    );
  },
});

// -- versions: stage and alias per row ---------------------------------------------------------

const versions = document.getElementById("versions");

// "Archive others" only means something for Staging and Production (the API refuses it
// otherwise), so it is offered only then.
function syncArchive(form) {
  const box = form.elements.archive;
  const allowed = ["Staging", "Production"].includes(form.elements.stage.value);
  box.disabled = !allowed;
  if (!allowed) box.checked = false;
}
versions.querySelectorAll("form.stage-form").forEach(syncArchive);
versions.addEventListener("change", (event) => {
  const form = event.target.closest("form.stage-form");
  if (form && event.target.name === "stage") syncArchive(form);
});

versions.addEventListener("submit", (event) => {
  const form = event.target;
  event.preventDefault();
  const version = form.dataset.version;
  if (form.matches(".stage-form")) {
    const stage = form.elements.stage.value;
    const archive = form.elements.archive.checked;
    actThenReload(
      () =>
        post("model-versions/transition-stage", {
          name,
          version,
          stage,
          archive_existing_versions: archive,
        }),
      `v${version} moved to ${stage}.`,
      submitterOf(event),
    );
  } else if (form.matches(".version-alias-form")) {
    const alias = form.elements.alias.value.trim();
    if (alias) setAlias(alias, version, submitterOf(event));
  }
});

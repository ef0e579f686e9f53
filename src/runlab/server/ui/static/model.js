// The registered model page's changes: description, tags, aliases and stages, all through the
// REST API. A change that succeeds reloads the page, so what is shown is always what the server
// holds (history included); a refusal is shown in the notice bar and nothing else changes.
import { call, notify, post } from "runlab/api.js";

const root = document.getElementById("model-page");
const name = root.dataset.name;

/** Run one API change; reload on success, show the server's message on failure. */
async function act(work, done, button) {
  // Disabling the button stops a double click from sending the change twice.
  if (button) button.disabled = true;
  try {
    await work();
    notify(done, true);
    window.location.reload();
  } catch (err) {
    notify(err.message);
    if (button) button.disabled = false;
  }
}

function submitterOf(event) {
  return event.submitter || event.target.querySelector("button[type=submit]");
}

/** Call ``handlers[action](row, button)`` when a row's ``button[data-action]`` is clicked. */
function onRowButtons(tableId, handlers) {
  document.getElementById(tableId).addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    const handler = button && handlers[button.dataset.action];
    if (handler) handler(button.closest("tr"), button);
  });
}

// -- description -------------------------------------------------------------------------------

const descriptionText = document.getElementById("description-text");
const descriptionForm = document.getElementById("description-form");
const editDescription = document.getElementById("edit-description");

function editing(on) {
  descriptionForm.hidden = !on;
  descriptionText.hidden = on;
  editDescription.hidden = on;
  if (on) descriptionForm.elements.description.focus();
}

editDescription.addEventListener("click", () => editing(true));
document.getElementById("cancel-description").addEventListener("click", () => {
  descriptionForm.reset();
  editing(false);
});
descriptionForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const description = descriptionForm.elements.description.value;
  act(
    () => call("PATCH", "registered-models/update", { name, description }),
    "Description saved.",
    submitterOf(event),
  );
});

// -- tags --------------------------------------------------------------------------------------

const tagForm = document.getElementById("tag-form");
tagForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = tagForm.elements.key.value.trim();
  const value = tagForm.elements.value.value;
  if (!key) return;
  act(
    () => post("registered-models/set-tag", { name, key, value }),
    `Tag ${key} set.`,
    submitterOf(event),
  );
});

onRowButtons("tags", {
  // Editing is setting the same key again: the form below the table does it.
  "edit-tag": (row) => {
    tagForm.elements.key.value = row.dataset.key;
    tagForm.elements.value.value = row.dataset.value;
    tagForm.elements.value.focus();
    tagForm.elements.value.select();
  },
  "delete-tag": (row, button) => {
    const key = row.dataset.key;
    if (!window.confirm(`Delete tag ${key}?`)) return;
    act(
      () => call("DELETE", "registered-models/delete-tag", { name, key }),
      `Tag ${key} deleted.`,
      button,
    );
  },
});

// -- aliases -----------------------------------------------------------------------------------

function setAlias(alias, version, button) {
  act(
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

onRowButtons("aliases", {
  "move-alias": (row, button) =>
    setAlias(row.dataset.alias, row.querySelector("select").value, button),
  "delete-alias": (row, button) => {
    const alias = row.dataset.alias;
    if (!window.confirm(`Remove alias @${alias}?`)) return;
    act(
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
    act(
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

// The share panel of the experiment and model pages: give a user a permission, change it, or
// take it away, through the server's permission API (which checks MANAGE itself); the page
// then reloads to show what the server holds.
import { call, post } from "runlab/api.js";
import { actThenReload, onRowButtons, submitterOf } from "runlab/editing.js";

const panel = document.getElementById("share");
const kind = panel.dataset.kind;
const resourceId = panel.dataset.resourceId;
// MLflow's permission API: experiments/permissions/* by experiment_id, and
// registered-models/permissions/* by name.
const family = kind === "experiment" ? "experiments/permissions/" : "registered-models/permissions/";
const idField = kind === "experiment" ? { experiment_id: resourceId } : { name: resourceId };

function grantedUsers() {
  return new Set(
    Array.from(panel.querySelectorAll("#share-grants tr[data-username]"), (row) => row.dataset.username),
  );
}

const form = document.getElementById("share-form");
form.addEventListener("submit", (event) => {
  event.preventDefault();
  const username = form.elements.username.value.trim();
  const permission = form.elements.permission.value;
  if (!username) return;
  // A user who already has a permission here gets it changed; anyone else gets a new one.
  const work = grantedUsers().has(username)
    ? () => call("PATCH", `${family}update`, { ...idField, username, permission })
    : () => post(`${family}create`, { ...idField, username, permission });
  actThenReload(work, `${username} now has ${permission}.`, submitterOf(event));
});

onRowButtons(document.getElementById("share-grants"), {
  "change-permission": (row, button) => {
    const username = row.dataset.username;
    const permission = row.querySelector("select[data-role=permission]").value;
    actThenReload(
      () => call("PATCH", `${family}update`, { ...idField, username, permission }),
      `${username} now has ${permission}.`,
      button,
    );
  },
  "revoke-permission": (row, button) => {
    const username = row.dataset.username;
    if (!window.confirm(`Remove ${username}'s permission? The server's default applies to them then.`)) {
      return;
    }
    actThenReload(
      () => call("DELETE", `${family}delete`, { ...idField, username }),
      `${username}'s permission removed.`,
      button,
    );
  },
});

// The admin page: create users, make them administrators or not, delete them, revoke tokens.
// Every change goes through the server's auth API (with the session's CSRF token, added by
// api.js), and the page reloads to show what the server now holds.
import { call, callApi, post } from "runlab/api.js";
import { actThenReload, onRowButtons, submitterOf } from "runlab/editing.js";

const createForm = document.getElementById("create-user-form");
createForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const username = createForm.elements.username.value.trim();
  const password = createForm.elements.password.value;
  const isAdmin = createForm.elements.is_admin.checked;
  if (!username || !password) return;
  actThenReload(
    async () => {
      await post("users/create", { username, password });
      if (isAdmin) await call("PATCH", "users/update-admin", { username, is_admin: true });
    },
    `User ${username} created.`,
    submitterOf(event),
  );
});

onRowButtons(document.getElementById("users"), {
  "grant-admin": (row, button) => {
    const username = row.dataset.username;
    actThenReload(
      () => call("PATCH", "users/update-admin", { username, is_admin: true }),
      `${username} is an administrator now.`,
      button,
    );
  },
  "revoke-admin": (row, button) => {
    const username = row.dataset.username;
    if (!window.confirm(`Make ${username} an ordinary user?`)) return;
    actThenReload(
      () => call("PATCH", "users/update-admin", { username, is_admin: false }),
      `${username} is no longer an administrator.`,
      button,
    );
  },
  "delete-user": (row, button) => {
    const username = row.dataset.username;
    if (!window.confirm(`Delete user ${username} with their access tokens and permissions?`)) {
      return;
    }
    actThenReload(
      () => call("DELETE", "users/delete", { username }),
      `User ${username} deleted.`,
      button,
    );
  },
});

onRowButtons(document.getElementById("tokens"), {
  "revoke-token": (row, button) => {
    const id = Number(row.dataset.tokenId);
    if (!window.confirm(`Revoke access token ${row.dataset.tokenName}? Programs using it stop working.`)) {
      return;
    }
    actThenReload(
      () => callApi("POST", "/ajax-api/2.0/runlab/tokens/revoke", { token_id: id }),
      `Access token ${row.dataset.tokenName} revoked.`,
      button,
    );
  },
});

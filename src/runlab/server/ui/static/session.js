// Signing out from the page header: a POST with the session's CSRF token, then the login page.
import { callApi, notify } from "runlab/api.js";

const form = document.getElementById("signout-form");
if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await callApi("POST", "/logout", {});
    } catch (err) {
      notify(`Could not sign out: ${err.message}`);
      button.disabled = false;
      return;
    }
    window.location.assign("/login");
  });
}

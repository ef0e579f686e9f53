// Editing in the pages: the description editor and the tag table of the macros in
// templates/editing_macros.html, and the "change through the API, then reload" step every
// page's buttons and forms share.
// Each page passes only what differs: which API call saves, sets or deletes.
import { notify } from "runlab/api.js";

/**
 * Run one API change: on success say ``doneMessage`` and reload, so the page shows what the
 * server now holds (where it sorts a new row, what else the change moved); on failure show the
 * server's message and change nothing. ``button``, when given, is disabled meanwhile so a
 * double click cannot send the change twice.
 */
export async function actThenReload(work, doneMessage, button) {
  if (button) button.disabled = true;
  try {
    await work();
  } catch (err) {
    notify(err.message);
    if (button) button.disabled = false;
    return;
  }
  notify(doneMessage, true);
  window.location.reload();
}

/** The button that submitted a form (the first submit button when the browser does not say). */
export function submitterOf(event) {
  return event.submitter || event.target.querySelector("button[type=submit]");
}

/**
 * Call ``handlers[action](row, button)`` when a ``button[data-action]`` in one of ``table``'s
 * rows is clicked: one listener for the whole table, so rows need no handlers of their own.
 */
export function onRowButtons(table, handlers) {
  table.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    const handler = button && handlers[button.dataset.action];
    if (handler) handler(button.closest("tr"), button);
  });
}

/**
 * Make the description block editable in place. ``save(text)`` stores the text (a promise);
 * once it resolves the new text is shown, or, with ``reload``, the page reloads (for pages
 * where saving changes more than the text, such as an "updated" time). Escape cancels and
 * Ctrl/Cmd+Enter saves without reaching for the mouse.
 */
export function mountDescriptionEditor({ save, reload = false }) {
  const text = document.getElementById("description-text");
  const form = document.getElementById("description-form");
  // No form: the signed-in user may not change this page's description.
  if (!form) return;
  const input = document.getElementById("description-input");
  const edit = document.getElementById("edit-description");
  const submit = form.querySelector("button[type=submit]");
  // What the server holds: Cancel goes back to it, not to whatever was last typed.
  let saved = input.defaultValue;

  function showEditor(editing) {
    form.hidden = !editing;
    text.hidden = editing;
    edit.hidden = editing;
    edit.setAttribute("aria-expanded", String(editing));
    if (editing) input.focus();
  }

  function cancel() {
    input.value = saved;
    showEditor(false);
    edit.focus();
  }

  edit.addEventListener("click", () => showEditor(true));
  document.getElementById("cancel-description").addEventListener("click", cancel);
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") cancel();
    else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value;
    submit.disabled = true;
    try {
      await save(value);
    } catch (err) {
      notify(`The description was not saved: ${err.message}`);
      submit.disabled = false;
      return;
    }
    notify("Description saved.", true);
    if (reload) {
      window.location.reload();
      return;
    }
    saved = value;
    text.textContent = value || "No description.";
    text.classList.toggle("empty", !value);
    submit.disabled = false;
    showEditor(false);
  });
}

/**
 * Make a tag table and its form work: the form sets a tag (``setTag(key, value)``), a row's
 * Edit puts the tag in the form to change its value there, and a row's Delete removes it
 * (``deleteTag(key)``) once confirmed. Both calls return promises; the page reloads after each
 * change, which shows the tag where the server sorts it and proves it was stored.
 */
export function mountTagEditor({ table, form, setTag, deleteTag }) {
  // No form: the signed-in user may not change these tags (the table has no buttons either).
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = form.elements.key.value.trim();
    const value = form.elements.value.value;
    if (!key) return;
    actThenReload(() => setTag(key, value), `Tag ${key} set.`, submitterOf(event));
  });

  onRowButtons(table, {
    // Editing is setting the same key again, so the form does it: no second editor to keep.
    "edit-tag": (row) => {
      form.elements.key.value = row.dataset.tagKey;
      form.elements.value.value = row.dataset.tagValue;
      form.elements.value.focus();
      form.elements.value.select();
    },
    "delete-tag": (row, button) => {
      const key = row.dataset.tagKey;
      if (!window.confirm(`Delete the tag ${key}?`)) return;
      actThenReload(() => deleteTag(key), `Tag ${key} deleted.`, button);
    },
  });
}

// Keyboard navigation in the UI's tables: every page's grid behaves the same way.
//
// Rows of a <table data-keynav> can be reached with Tab (the first one) and the arrow keys:
// Up/Down (or k/j) move between rows, Home/End jump to the first/last, Enter opens the row's
// first link and Space toggles its checkbox. Focus is shown by the stylesheet's outline.

const NEXT = new Set(["ArrowDown", "j"]);
const PREVIOUS = new Set(["ArrowUp", "k"]);

function rowsOf(table) {
  return Array.from(table.tBodies).flatMap((body) =>
    Array.from(body.rows).filter((row) => !row.hidden && row.dataset.keynavSkip === undefined),
  );
}

/** Make the rows of ``table`` keyboard-navigable (safe to call again after rows change). */
export function enableRowNavigation(table) {
  const rows = rowsOf(table);
  rows.forEach((row, i) => {
    if (!row.hasAttribute("tabindex")) row.tabIndex = i === 0 ? 0 : -1;
  });
  if (table.dataset.keynavBound) return;
  table.dataset.keynavBound = "1";
  table.addEventListener("keydown", (event) => {
    const row = event.target.closest("tr");
    // Keys typed into a field inside the row belong to the field.
    if (!row || event.target.matches("input:not([type=checkbox]), select, textarea")) return;
    const all = rowsOf(table);
    const at = all.indexOf(row);
    if (at < 0) return;
    let target = null;
    if (NEXT.has(event.key)) target = all[Math.min(at + 1, all.length - 1)];
    else if (PREVIOUS.has(event.key)) target = all[Math.max(at - 1, 0)];
    else if (event.key === "Home") target = all[0];
    else if (event.key === "End") target = all[all.length - 1];
    else if (event.key === "Enter" && event.target === row) {
      const link = row.querySelector("a[href]");
      if (link) link.click();
      return;
    } else if (event.key === " " && event.target === row) {
      const box = row.querySelector("input[type=checkbox]");
      if (box) {
        event.preventDefault();
        box.click();
      }
      return;
    } else return;
    event.preventDefault();
    all.forEach((r) => {
      r.tabIndex = r === target ? 0 : -1;
    });
    target.focus();
  });
}

/** Enable navigation on every ``table[data-keynav]`` of the page. */
export function enableAllTables(root = document) {
  root.querySelectorAll("table[data-keynav]").forEach(enableRowNavigation);
}

// Every page loads this module (base.html), so tables drawn by the server work at once.
enableAllTables();

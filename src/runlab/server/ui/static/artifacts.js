// The artifact browser of the run page: a folder tree on the left, a preview on the right.
//
// Folders are listed only when opened (GET mlflow/artifacts/list), so a run with thousands of
// files opens at once. The tree follows the WAI-ARIA tree pattern: one item in the tab order,
// Up/Down move, Right opens a folder (or enters it), Left closes it (or goes to its parent),
// Home/End jump, Enter or Space opens a folder or previews a file.
//
// Artifact content is someone's data: it only ever reaches the page through textContent,
// element attributes, or an <img> (which runs no script, even in an SVG).

import { get } from "runlab/api.js";

const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"];

/** A byte count for people: "532 bytes", "1.4 MiB". */
function formatSize(bytes) {
  if (bytes === undefined || bytes === null) return "";
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} ${UNITS[0]}` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function baseName(path) {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The address of a run's artifact file; with ``download`` the browser saves it. */
export function artifactUrl(runId, path, download = false) {
  const query = new URLSearchParams({ run_uuid: runId, path });
  if (download) query.set("download", "1");
  return `/get-artifact?${query}`;
}

// The page address names the file on show ("#artifact=plots/loss.png"), so a preview can be
// bookmarked or linked to, from the run page itself or from elsewhere.
const HASH_PREFIX = "#artifact=";

/** The in-page link that opens the browser at ``path`` (a file or a folder). */
export function artifactHash(path) {
  return HASH_PREFIX + encodeURIComponent(path);
}

/**
 * Fill ``element`` with the artifact browser of the run ``runId``. Every failure (listing,
 * preview, image) is written into the browser itself; nothing is thrown. The returned
 * browser's ``reveal(path)`` opens the folders down to ``path`` and shows it.
 */
export function mountArtifactBrowser(container, runId) {
  const browser = new ArtifactBrowser(container, runId);
  browser.ready = browser.start();
  const follow = () => {
    if (!window.location.hash.startsWith(HASH_PREFIX)) return;
    const path = decodeURIComponent(window.location.hash.slice(HASH_PREFIX.length));
    browser.reveal(path);
  };
  window.addEventListener("hashchange", follow);
  // A link to the address already shown fires no hashchange (the tree may have been closed or
  // scrolled away since), so such a click is followed here instead.
  document.addEventListener("click", (event) => {
    const link = event.target.closest(`a[href^="${HASH_PREFIX}"]`);
    if (link && link.hash === window.location.hash) follow();
  });
  follow();
  return browser;
}

class ArtifactBrowser {
  constructor(container, runId) {
    this.container = container;
    this.runId = runId;
    this.rootUri = "";
    // Only the newest preview request may draw: answers can arrive out of order.
    this.previewSerial = 0;
    container.replaceChildren();
    container.classList.add("artifact-browser");

    const treePane = element("div", "artifact-tree-pane");
    this.tree = element("ul", "artifact-tree");
    this.tree.setAttribute("role", "tree");
    this.tree.setAttribute("aria-label", "Artifacts");
    this.treeStatus = element("p", "artifact-status", "Loading artifacts…");
    treePane.append(this.treeStatus, this.tree);

    this.preview = element("div", "artifact-preview");
    this.preview.setAttribute("aria-live", "polite");
    this.previewHead = element("div", "artifact-head");
    this.previewBody = element("div", "artifact-body");
    this.previewBody.append(element("p", "artifact-status", "Select a file to preview it."));
    this.preview.append(this.previewHead, this.previewBody);

    container.append(treePane, this.preview);
    this.tree.addEventListener("keydown", (event) => this.onKey(event));
    this.tree.addEventListener("click", (event) => {
      const label = event.target.closest(".label");
      if (label) this.activate(label.parentElement);
    });
  }

  async start() {
    let reply;
    try {
      reply = await get("mlflow/artifacts/list", { run_id: this.runId });
    } catch (err) {
      this.showTreeError(`Could not list the artifacts: ${err.message}`);
      return;
    }
    this.rootUri = (reply.root_uri || "").replace(/\/+$/, "");
    const files = reply.files || [];
    if (!files.length) {
      this.treeStatus.textContent = "No artifacts logged";
      this.treeStatus.classList.add("empty");
      return;
    }
    this.treeStatus.hidden = true;
    this.addItems(this.tree, files, 1);
    // In the tab order, but not focused: opening the run page must not jump down to here.
    this.visibleItems()[0].tabIndex = 0;
  }

  /** Open the folders down to ``path``, then preview it (a file) or leave it open (a folder). */
  async reveal(path) {
    await this.ready;
    const parts = path.split("/").filter(Boolean);
    let item = null;
    for (let i = 0; i < parts.length; i += 1) {
      const wanted = parts.slice(0, i + 1).join("/");
      item = this.itemAt(wanted);
      if (!item) {
        const message = `No artifact at ${path} in this run.`;
        this.previewHead.replaceChildren();
        this.previewBody.replaceChildren(element("p", "artifact-status error", message));
        this.container.scrollIntoView({ block: "start" });
        return;
      }
      const isFolder = item.classList.contains("folder");
      if (isFolder && item.getAttribute("aria-expanded") !== "true") await this.toggleFolder(item);
    }
    if (!item) return;
    this.focusItem(item);
    if (!item.classList.contains("folder")) this.select(item);
    this.container.scrollIntoView({ block: "start" });
  }

  itemAt(path) {
    const items = this.tree.querySelectorAll("li[role=treeitem]");
    return Array.from(items).find((item) => item.dataset.path === path) || null;
  }

  showTreeError(message) {
    this.treeStatus.hidden = false;
    this.treeStatus.textContent = message;
    this.treeStatus.className = "artifact-status error";
  }

  addItems(list, files, level) {
    // Folders first, then files, each by name: the order of a file manager.
    const folderFirst = (a, b) => Number(Boolean(b.is_dir)) - Number(Boolean(a.is_dir));
    const sorted = [...files].sort((a, b) => folderFirst(a, b) || a.path.localeCompare(b.path));
    for (const file of sorted) {
      const item = element("li", file.is_dir ? "folder" : "file");
      item.setAttribute("role", "treeitem");
      item.setAttribute("aria-level", String(level));
      item.tabIndex = -1;
      item.dataset.path = file.path;
      const label = element("span", "label");
      label.append(element("span", "name", baseName(file.path)));
      if (file.is_dir) {
        item.setAttribute("aria-expanded", "false");
      } else {
        item.setAttribute("aria-selected", "false");
        label.append(element("span", "size", formatSize(file.file_size)));
      }
      item.append(label);
      list.append(item);
    }
  }

  /** The items a person can see (inside open folders), top to bottom. */
  visibleItems() {
    return Array.from(this.tree.querySelectorAll("li[role=treeitem]")).filter(
      (item) => !item.closest("ul[role=group][hidden]"),
    );
  }

  focusItem(item) {
    if (!item) return;
    for (const other of this.tree.querySelectorAll("li[tabindex='0']")) other.tabIndex = -1;
    item.tabIndex = 0;
    item.focus({ preventScroll: false });
  }

  parentItem(item) {
    return item.parentElement.closest("li[role=treeitem]");
  }

  onKey(event) {
    const item = event.target.closest("li[role=treeitem]");
    if (!item) return;
    const items = this.visibleItems();
    const at = items.indexOf(item);
    const isFolder = item.classList.contains("folder");
    const open = item.getAttribute("aria-expanded") === "true";
    let handled = true;
    switch (event.key) {
      case "ArrowDown":
        this.focusItem(items[Math.min(at + 1, items.length - 1)]);
        break;
      case "ArrowUp":
        this.focusItem(items[Math.max(at - 1, 0)]);
        break;
      case "Home":
        this.focusItem(items[0]);
        break;
      case "End":
        this.focusItem(items[items.length - 1]);
        break;
      case "ArrowRight":
        if (isFolder && !open) this.toggleFolder(item);
        else if (isFolder) this.focusItem(item.querySelector("li[role=treeitem]"));
        break;
      case "ArrowLeft":
        if (isFolder && open) this.toggleFolder(item);
        else this.focusItem(this.parentItem(item));
        break;
      case "Enter":
      case " ":
        this.activate(item);
        break;
      default:
        handled = false;
    }
    if (handled) {
      event.preventDefault();
      event.stopPropagation();
    }
  }

  activate(item) {
    this.focusItem(item);
    if (item.classList.contains("folder")) this.toggleFolder(item);
    else this.select(item);
  }

  async toggleFolder(item) {
    const open = item.getAttribute("aria-expanded") === "true";
    let group = item.querySelector(":scope > ul[role=group]");
    if (group && group.dataset.failed && !open) {
      group.remove();
      group = null;
    }
    if (open) {
      item.setAttribute("aria-expanded", "false");
      if (group) group.hidden = true;
      return;
    }
    item.setAttribute("aria-expanded", "true");
    if (group) {
      group.hidden = false;
      return;
    }
    group = element("ul");
    group.setAttribute("role", "group");
    const status = element("li", "artifact-status", "Loading…");
    status.setAttribute("role", "none");
    group.append(status);
    item.append(group);
    const level = Number(item.getAttribute("aria-level")) + 1;
    try {
      const reply = await get("mlflow/artifacts/list", {
        run_id: this.runId,
        path: item.dataset.path,
      });
      status.remove();
      const files = reply.files || [];
      if (files.length) {
        this.addItems(group, files, level);
      } else {
        status.textContent = "Empty folder";
        group.append(status);
      }
    } catch (err) {
      status.textContent = `Could not list this folder: ${err.message}`;
      status.classList.add("error");
      group.dataset.failed = "1"; // the next opening lists it again
    }
  }

  select(item) {
    for (const other of this.tree.querySelectorAll("li[aria-selected='true']")) {
      other.setAttribute("aria-selected", "false");
    }
    item.setAttribute("aria-selected", "true");
    // Replacing (not pushing) keeps Back for leaving the page, and fires no hashchange.
    window.history.replaceState(null, "", artifactHash(item.dataset.path));
    this.showFile(item.dataset.path);
  }

  async showFile(path) {
    const serial = ++this.previewSerial;
    const download = element("a", "artifact-download", "Download");
    download.href = artifactUrl(this.runId, path, true);
    download.setAttribute("download", baseName(path));
    const title = element("span", "artifact-name", path);
    const uri = element("code", "artifact-uri", this.rootUri ? `${this.rootUri}/${path}` : path);
    this.previewHead.replaceChildren(title, download, uri);
    this.previewBody.replaceChildren(element("p", "artifact-status", "Loading preview…"));
    let reply;
    try {
      reply = await get("runlab/artifacts/preview", { run_id: this.runId, path });
    } catch (err) {
      if (serial !== this.previewSerial) return;
      this.previewBody.replaceChildren(
        element("p", "artifact-status error", `Could not preview ${path}: ${err.message}`),
      );
      return;
    }
    if (serial !== this.previewSerial) return;
    this.previewBody.replaceChildren(...renderPreview(reply, this.runId, path));
  }
}

/** The nodes that show a preview reply (see the artifacts/preview endpoint). */
function renderPreview(reply, runId, path) {
  const nodes = [];
  const size = formatSize(reply.size);
  if (reply.message) nodes.push(element("p", "artifact-note", reply.message));
  switch (reply.kind) {
    case "text":
    case "yaml":
    case "mlmodel":
    case "json": {
      let text = reply.text || "";
      if (reply.kind === "json" && !reply.truncated) {
        try {
          text = JSON.stringify(JSON.parse(text), null, 2);
        } catch {
          // Not valid JSON after all: show it as it is.
        }
      }
      if (reply.truncated) {
        const note = `Showing the start of a ${size} file; download it for the rest.`;
        nodes.push(element("p", "artifact-note", note));
      }
      const pre = element("pre", "artifact-text", text);
      pre.tabIndex = 0; // scrollable with the keyboard
      nodes.push(pre);
      break;
    }
    case "image": {
      const frame = element("div", "artifact-image");
      const img = element("img");
      img.alt = path;
      img.addEventListener("error", () => {
        const message = `Could not load the image ${path}.`;
        frame.replaceChildren(element("p", "artifact-status error", message));
      });
      img.src = artifactUrl(runId, path);
      frame.append(img);
      nodes.push(frame);
      break;
    }
    case "table":
      nodes.push(...renderTable(reply));
      break;
    case "too_large":
      nodes.push(element("p", "artifact-status", `Too large to preview (${size}).`));
      break;
    default:
      nodes.push(element("p", "artifact-status", `No preview for this kind of file (${size}).`));
  }
  return nodes;
}

function renderTable(reply) {
  const rows = reply.rows || [];
  const columns = reply.columns || [];
  const total = reply.total_rows;
  let summary =
    total === null || total === undefined
      ? `Showing the first ${rows.length} rows`
      : `Showing ${rows.length} of ${total} rows`;
  if (reply.total_columns > columns.length) {
    summary += ` and ${columns.length} of ${reply.total_columns} columns`;
  }
  const note = element("p", "artifact-note", `${summary}.`);
  const scroller = element("div", "artifact-table");
  scroller.tabIndex = 0;
  const table = element("table", "grid");
  const head = table.createTHead().insertRow();
  for (const name of columns) head.append(element("th", "", name));
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (let i = 0; i < Math.max(columns.length, row.length); i += 1) {
      const value = row[i];
      const text = value === null || value === undefined ? "" : String(value);
      tr.append(element("td", typeof value === "number" ? "num" : "", text));
    }
  }
  scroller.append(table);
  return [note, scroller];
}

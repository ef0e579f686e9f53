// Links in MLflow's form open the matching runlab page.
//
// MLflow's web UI routes in the URL's fragment (`/#/experiments/3/runs/<id>`), and its client
// prints such a "View run" link after every run; notebooks, chat threads and bookmarks are full of
// them. A fragment never reaches the server, so the translation happens here, in the browser,
// before the page (always the home page for these links) is used. Unknown `#/...` routes are
// left alone: the experiments list is the best answer we have for them.
//
// Loaded as a classic deferred script by every page: it must not depend on the module graph.
(function () {
  "use strict";

  // `["a","b"]` (MLflow's encoding of id lists in its query strings), or a plain value.
  function listParam(raw) {
    if (raw === null || raw === "") return [];
    try {
      const parsed = JSON.parse(raw);
      if (Array.isArray(parsed)) return parsed.map(String);
      return [String(parsed)];
    } catch (_) {
      return raw.split(",").filter((part) => part !== "");
    }
  }

  function segment(value) {
    return encodeURIComponent(value);
  }

  // The runlab path for an MLflow fragment such as "#/experiments/3/runs/abc", or null.
  function runlabPathFor(hash) {
    if (!hash || !hash.startsWith("#/")) return null;
    const route = hash.slice(1);
    const queryAt = route.indexOf("?");
    const path = queryAt < 0 ? route : route.slice(0, queryAt);
    const query = new URLSearchParams(queryAt < 0 ? "" : route.slice(queryAt + 1));
    const parts = path.split("/").filter((part) => part !== "").map((part) => {
      try {
        return decodeURIComponent(part);
      } catch (_) {
        return part;
      }
    });
    const [head, ...rest] = parts;

    if (head === "experiments") {
      if (rest.length === 0) return "/experiments";
      const experimentId = rest[0];
      // experiments/N/runs/<id>[/artifacts/...], and MLflow 2's experiments/N/runs/<id>/... tabs
      if (rest[1] === "runs" && rest[2]) return `/runs/${segment(rest[2])}`;
      return `/experiments/${segment(experimentId)}`;
    }
    if (head === "models") {
      if (rest.length === 0) return "/models";
      const versionsAt = rest.indexOf("versions");
      if (versionsAt > 0) {
        const name = rest.slice(0, versionsAt).join("/");
        const version = rest[versionsAt + 1];
        const page = `/models/${segment(name)}`;
        return version ? `${page}#version-${segment(version)}` : page;
      }
      return `/models/${segment(rest.join("/"))}`;
    }
    if (head === "compare-runs") {
      const runs = listParam(query.get("runs"));
      if (runs.length === 0) return "/experiments";
      const search = new URLSearchParams();
      runs.forEach((id) => search.append("runs", id));
      return `/compare?${search.toString()}`;
    }
    if (head === "compare-experiments") {
      const experiments = listParam(query.get("experiments"));
      return experiments.length === 1 ? `/experiments/${segment(experiments[0])}` : "/experiments";
    }
    if (head === "metric") {
      // #/metric/<key>?runs=[...]: the runs' comparison shows the metric side by side.
      const runs = listParam(query.get("runs"));
      if (runs.length === 1) return `/runs/${segment(runs[0])}`;
      if (runs.length > 1) {
        const search = new URLSearchParams();
        runs.forEach((id) => search.append("runs", id));
        return `/compare?${search.toString()}`;
      }
      return "/experiments";
    }
    return null;
  }

  const target = runlabPathFor(window.location.hash);
  if (target !== null) window.location.replace(target);
})();

// The model page's "Compare" button: enabled while 2 to 20 versions are ticked, with the count
// on it. The form itself is a plain GET (?versions=…&versions=…), so it also works without
// this script; the script only keeps a choice the compare page would refuse from being sent.

const form = document.getElementById("compare-versions");

if (form) {
  const button = document.getElementById("compare-versions-button");
  const hint = document.getElementById("compare-versions-hint");
  const min = Number(form.dataset.min);
  const max = Number(form.dataset.max);
  const boxes = () => [...document.querySelectorAll("input.pick-version")];

  const refresh = () => {
    const n = boxes().filter((box) => box.checked).length;
    button.textContent = `Compare (${n})`;
    button.disabled = n < min || n > max;
    hint.textContent =
      n > max ? `At most ${max} versions can be compared at once.` : `Tick ${min} to ${max} versions to compare their metrics.`;
  };

  document.addEventListener("change", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.classList.contains("pick-version")) {
      refresh();
    }
  });
  refresh();
}

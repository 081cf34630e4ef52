// The dashboard page: shows the view the server sends (already translated) and posts
// the buttons' actions with the session's CSRF token. No library, no build step.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);

  function show(el, on) { el.hidden = !on; }

  function render(view) {
    document.body.dataset.state = view.state;
    $("headline").textContent = view.headline;
    $("backed-up").textContent = view.backed_up_text;
    $("last-backup").textContent = view.last_backup_text;
    $("held").textContent = view.held_text; show($("held"), !!view.held_text);
    $("sidecars").textContent = view.sidecars_text;
    show($("sidecars"), !!view.sidecars_text);
    $("failed-count").textContent = view.failed_text;
    show($("failed-count"), !!view.failed_text);
    show($("quota"), !!view.quota_text);
    $("quota-text").textContent = view.quota_text;
    $("quota-fill").style.width = ((view.quota_fraction || 0) * 100).toFixed(1) + "%";
    show($("pause"), !view.paused); show($("resume"), view.paused);
    const p = view.progress;
    show($("progress"), !!p);
    if (p) {
      $("progress-file").textContent = p.file;
      $("progress-file").title = p.path;
      $("progress-fill").style.width = (p.fraction * 100).toFixed(1) + "%";
      $("progress-percent").textContent = p.percent_text;
      $("progress-count").textContent = p.count_text;
      $("progress-bytes").textContent = p.bytes_text;
      $("progress-transfer").textContent = p.transfer_text;
    }
    statList("stats-folders", view.stats_folders.map((f) => [f.path, f.text]));
    statList("stats-albums", view.stats_albums.map((a) => [a.name, a.text]));
    show($("no-albums"), view.stats_albums.length === 0);
    statList("warnings-list", view.warnings.map((w) => [w.time_text, w.message]));
    show($("no-warnings"), view.warnings.length === 0);
    const list = $("failed-list");
    list.replaceChildren();
    for (const item of view.failed) {
      const li = $("failed-item").content.firstElementChild.cloneNode(true);
      li.dataset.path = item.path;
      li.querySelector(".name").textContent = item.name;
      li.querySelector(".name").title = item.path;
      li.querySelector(".reason").textContent = item.reason;
      li.querySelector(".attempts").textContent = item.attempts_text;
      li.querySelector(".retry").addEventListener("click",
        () => post("/api/v1/retry", {paths: [item.path]}));
      list.appendChild(li);
    }
    show($("no-failed"), view.failed.length === 0);
    show($("retry-all"), view.failed.length > 0);
  }

  function statList(id, rows) {
    const list = $(id);
    list.replaceChildren();
    for (const [name, text] of rows) {
      const li = $("stat-item").content.firstElementChild.cloneNode(true);
      li.querySelector(".name").textContent = name;
      li.querySelector(".counts").textContent = text;
      list.appendChild(li);
    }
  }

  async function post(url, body) {
    const answer = await fetch(url, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
    });
    const error = $("error");
    if (answer.ok) { show(error, false); return true; }
    let reason = String(answer.status);
    try { reason = (await answer.json()).error.message; } catch (e) { /* not JSON */ }
    error.textContent = error.dataset.refused.replace("{reason}", reason);
    show(error, true);
    return false;
  }

  async function getJSON(url) {
    const answer = await fetch(url, {credentials: "same-origin"});
    return answer.ok ? answer.json() : null;
  }

  function fromTemplate(id) { return $(id).content.firstElementChild.cloneNode(true); }

  async function loadFolders() {
    const lists = await getJSON("/api/v1/folders");
    if (!lists) return;
    for (const which of ["include", "exclude"]) {
      const ul = $(which + "-list");
      ul.replaceChildren();
      for (const entry of lists[which]) {
        const li = fromTemplate("folder-entry");
        li.dataset.entry = entry;
        li.querySelector(".entry").textContent = entry;
        li.querySelector(".remove").addEventListener("click",
          () => editFolders({list: which, op: "remove", entry: entry}));
        ul.appendChild(li);
      }
    }
  }

  async function editFolders(body) {
    if (await post("/api/v1/folders", body)) await loadFolders();
  }

  function renderSettings(answer) {
    const ul = $("settings-list");
    ul.replaceChildren();
    for (const toggle of answer.toggles) {
      const li = fromTemplate("toggle-item");
      li.dataset.key = toggle.key;
      const box = li.querySelector(".value");
      box.checked = toggle.value;
      li.querySelector(".label").textContent = toggle.label;
      box.addEventListener("change", async () => {
        await post("/api/v1/settings", {key: toggle.key, value: box.checked});
        await loadSettings();  // refused or not, show what the file says now
      });
      ul.appendChild(li);
    }
  }

  async function loadSettings() {
    const answer = await getJSON("/api/v1/settings");
    if (answer) renderSettings(answer);
  }

  async function browse(path) {
    const at = await getJSON("/api/v1/folders/browse" +
      (path ? "?path=" + encodeURIComponent(path) : ""));
    if (!at) return;
    $("browse-path").textContent = at.path;
    $("browse-up").dataset.path = at.parent || "";
    show($("browse-up"), !!at.parent);
    const ul = $("browse-list");
    ul.replaceChildren();
    for (const folder of at.folders) {
      const li = fromTemplate("browse-item");
      li.dataset.path = folder.path;
      li.querySelector(".name").textContent = folder.name;
      li.querySelector(".name").addEventListener("click", () => browse(folder.path));
      const counts = li.querySelector(".counts");
      counts.textContent = counts.dataset.template.replace("{n}", folder.backed_up)
        .replace("{total}", folder.total);
      for (const which of ["include", "exclude"]) {
        li.querySelector("." + which).addEventListener("click",
          () => editFolders({list: which, op: "add", entry: folder.path}));
      }
      ul.appendChild(li);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    render(JSON.parse($("view").textContent));
    $("backup-now").addEventListener("click", () => post("/api/v1/backup"));
    $("pause").addEventListener("click", () => post("/api/v1/pause"));
    $("resume").addEventListener("click", () => post("/api/v1/resume"));
    $("retry-all").addEventListener("click", () => post("/api/v1/retry", {all: true}));
    $("logout").addEventListener("submit", (event) => {
      event.preventDefault();
      post("/logout").then(() => window.location.reload());
    });
    $("browse-up").addEventListener("click", () => browse($("browse-up").dataset.path));
    loadFolders();
    loadSettings();
    browse("");
    const events = new EventSource("/api/v1/events");
    events.addEventListener("status", (event) => render(JSON.parse(event.data)));
  });
})();

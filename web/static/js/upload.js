// /upload: files and folders in (drop, file picker, folder picker), one ingestion job per
// request, each file's stage polled until its job ends. Job ids are kept in localStorage, and
// the recent jobs come from GET /jobs, so a reload shows the same jobs.

import { $, api, badge, config, el, formatBytes, formatDate, formatNumber, forgetJob, pageUrl, parseKeyValues, rememberJob, rememberedJobs, showError, t } from "./common.js";

const EXTENSIONS = new Set(config.extensions);
const MB = 2 ** 20;
const MAX_FILE = config.settings.max_file_mb * MB;
// multipart framing adds a little to each request: keep a batch safely under the limit
const MAX_BATCH = config.settings.max_upload_mb * MB * 0.95;
const MAX_BATCH_FILES = 100;
const POLL_MS = 700;
const FINISHED = new Set(["done", "failed", "cancelled"]);

const jobs = new Map(); // id → {job, card}
const errorBox = $("#upload-error");

// ---- gathering files ----------------------------------------------------------------------

function extension(path) {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot).toLowerCase() : "";
}

const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));
const readBatch = (reader) => new Promise((resolve, reject) => reader.readEntries(resolve, reject));

async function walk(entry, out) {
  if (entry.isFile) {
    out.push({ file: await fileOf(entry), path: entry.fullPath.replace(/^\/+/, "") });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    // readEntries returns a folder's entries in batches (100 in Chromium) until an empty one
    for (let batch = await readBatch(reader); batch.length; batch = await readBatch(reader)) {
      for (const child of batch) await walk(child, out);
    }
  }
}

async function droppedFiles(dataTransfer) {
  // the entries must be taken before the first await: the item list dies with the event
  const entries = Array.from(dataTransfer.items || [])
    .filter((item) => item.kind === "file")
    .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  const plain = Array.from(dataTransfer.files || []);
  if (!entries.length || entries.some((e) => !e)) return plain.map((file) => ({ file, path: file.name }));
  const out = [];
  for (const entry of entries) await walk(entry, out);
  return out;
}

function sortOut(files) {
  const accepted = [];
  const ignored = [];
  const seen = new Set();
  for (const item of files) {
    // the server refuses one name twice in an upload; a hidden folder (.git/…) is not content
    if (item.path.split("/").some((part) => part.startsWith("."))) ignored.push({ ...item, why: t("upload.why_hidden") });
    else if (seen.has(item.path)) ignored.push({ ...item, why: t("upload.why_twice") });
    else if (!EXTENSIONS.has(extension(item.path))) ignored.push({ ...item, why: t("upload.why_type", { ext: extension(item.path) || "–" }) });
    else if (item.file.size === 0) ignored.push({ ...item, why: t("upload.why_empty") });
    else if (item.file.size > MAX_FILE) ignored.push({ ...item, why: t("upload.why_large", { size: formatBytes(item.file.size), limit: config.settings.max_file_mb }) });
    else {
      seen.add(item.path);
      accepted.push(item);
    }
  }
  return { accepted, ignored };
}

function showIgnored(ignored) {
  const box = $("#ignored");
  box.hidden = !ignored.length;
  box.open = ignored.length <= 10;
  $("#ignored-summary").textContent = t("upload.ignored", { n: ignored.length });
  $("#ignored-list").replaceChildren(...ignored.map((i) => el("li", {}, el("code", { text: i.path }), " — ", i.why)));
}

function batches(items) {
  const out = [];
  let current = [];
  let size = 0;
  for (const item of items) {
    if (current.length && (size + item.file.size > MAX_BATCH || current.length >= MAX_BATCH_FILES)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += item.file.size;
  }
  if (current.length) out.push(current);
  return out;
}

async function upload(files) {
  showError(errorBox, null);
  let metadata;
  try {
    metadata = parseKeyValues($("#upload-metadata").value);
  } catch (error) {
    showError(errorBox, error);
    return;
  }
  const { accepted, ignored } = sortOut(files);
  showIgnored(ignored);
  if (!accepted.length) {
    if (files.length) showError(errorBox, t("upload.nothing_supported"));
    return;
  }
  for (const batch of batches(accepted)) {
    const form = new FormData();
    for (const { file, path } of batch) form.append("file", file, path);
    if (Object.keys(metadata).length) form.append("metadata", JSON.stringify(metadata));
    try {
      const { job } = await api("/documents", { method: "POST", form });
      track(job);
    } catch (error) {
      showError(errorBox, t("upload.failed_batch", { n: batch.length }) + " " + error.message);
    }
  }
}

// ---- jobs ---------------------------------------------------------------------------------

function fileRow(file) {
  const bar = el("span");
  const cells = {
    name: el("td", { class: "file" }),
    stage: el("td"),
    progress: el("td", {}, el("div", { class: "progress" }, bar)),
    chunks: el("td", { class: "num small muted" }),
    why: el("td", { class: "why" }),
  };
  const row = el("tr", {}, cells.name, cells.stage, cells.progress, cells.chunks, cells.why);
  return { row, cells, bar, key: "" };
}

function updateRow(view, file) {
  const key = JSON.stringify(file);
  if (key === view.key) return;
  view.key = key;
  const { cells, bar } = view;
  const link = file.doc_id && ["done", "unchanged"].includes(file.stage);
  cells.name.replaceChildren(link ? el("a", { href: pageUrl("/documents/" + encodeURIComponent(file.doc_id)), text: file.name }) : file.name);
  cells.stage.replaceChildren(badge(file.stage, t("stage." + file.stage)));
  const finished = ["done", "unchanged"].includes(file.stage);
  bar.style.width = Math.round((finished ? 1 : Math.max(0, Math.min(1, file.progress || 0))) * 100) + "%";
  cells.progress.firstChild.className = "progress " + (finished ? "done" : file.stage === "failed" ? "failed" : "");
  cells.chunks.textContent = file.chunks ? t("upload.chunks", { n: formatNumber(file.chunks) }) : "";
  cells.why.textContent = file.error || "";
}

function jobCard(job) {
  const card = el("section", { class: "card job", dataset: { job: job.id } });
  const state = el("span");
  const summary = el("span", { class: "muted small" });
  const overall = el("span");
  const cancel = el("button", { type: "button", class: "small", text: t("upload.cancel") });
  const retry = el("button", { type: "button", class: "small", text: t("upload.retry") });
  const error = el("div", { class: "error", hidden: true });
  const body = el("tbody");
  card.append(
    el(
      "div",
      { class: "job-head" },
      el("strong", { text: t("upload.job", { id: job.id.slice(0, 8) }) }),
      el("span", { class: "muted small", text: formatDate(job.created_at) }),
      state,
      summary,
      el("span", { class: "grow" }),
      cancel,
      retry,
    ),
    el("div", { class: "progress" }, overall),
    error,
    el("table", { class: "job-files" }, body),
  );
  cancel.addEventListener("click", () => act(job.id, "cancel"));
  retry.addEventListener("click", async () => {
    retry.disabled = true; // one retry per job: a second click would queue the files twice
    if (!(await act(job.id, "retry"))) retry.disabled = false;
  });
  return { card, state, summary, overall, cancel, retry, error, body, rows: new Map() };
}

function render(job) {
  let entry = jobs.get(job.id);
  if (!entry) {
    entry = { job, view: jobCard(job) };
    jobs.set(job.id, entry);
    const list = $("#jobs");
    // newest first
    const after = Array.from(list.children).find((c) => (jobs.get(c.dataset.job)?.job.created_at || 0) < job.created_at);
    list.insertBefore(entry.view.card, after || null);
  }
  entry.job = job;
  const v = entry.view;
  v.state.replaceChildren(badge(job.state, t("jobstate." + job.state)));
  const files = job.files || [];
  const count = (stage) => files.filter((f) => f.stage === stage).length;
  const finished = files.filter((f) => ["done", "unchanged", "failed", "cancelled"].includes(f.stage)).length;
  v.summary.textContent = t("upload.summary", { done: finished, total: files.length, failed: count("failed") });
  const progress = files.length
    ? files.reduce((sum, f) => sum + (["done", "unchanged"].includes(f.stage) ? 1 : f.progress || 0), 0) / files.length
    : FINISHED.has(job.state) ? 1 : 0;
  v.overall.style.width = Math.round(progress * 100) + "%";
  v.overall.parentElement.className = "progress " + (job.state === "done" ? "done" : job.state === "failed" ? "failed" : "");
  v.cancel.hidden = FINISHED.has(job.state);
  v.retry.hidden = !(FINISHED.has(job.state) && count("failed") + count("cancelled"));
  showError(v.error, job.error);
  for (const file of files) {
    let row = v.rows.get(file.name);
    if (!row) {
      row = fileRow(file);
      v.rows.set(file.name, row);
      v.body.append(row.row);
    }
    updateRow(row, file);
  }
  $("#no-jobs").hidden = jobs.size > 0;
}

function track(job) {
  rememberJob(job.id);
  render(job);
}

async function act(id, action) {
  showError(errorBox, null);
  try {
    const reply = await api(`/jobs/${encodeURIComponent(id)}/${action}`, { method: "POST" });
    if (action === "retry") track(reply.job);
    else render(reply);
    return true;
  } catch (error) {
    showError(errorBox, error.message);
    return false;
  }
}

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    for (const { job } of jobs.values()) {
      if (FINISHED.has(job.state)) continue;
      try {
        render(await api("/jobs/" + encodeURIComponent(job.id)));
      } catch (error) {
        if (error.status === 404) {
          forgetJob(job.id);
          jobs.get(job.id)?.view.card.remove();
          jobs.delete(job.id);
        }
      }
    }
  } finally {
    polling = false;
  }
}

async function loadJobs() {
  showError(errorBox, null);
  try {
    const { jobs: recent } = await api("/jobs");
    for (const job of recent) render(job);
    const known = new Set(recent.map((j) => j.id));
    for (const id of rememberedJobs()) {
      if (known.has(id) || jobs.has(id)) continue;
      try {
        render(await api("/jobs/" + encodeURIComponent(id)));
      } catch (error) {
        if (error.status === 404) forgetJob(id);
      }
    }
  } catch (error) {
    showError(errorBox, error.message);
  }
  $("#no-jobs").hidden = jobs.size > 0;
}

// ---- wiring -------------------------------------------------------------------------------

const zone = $("#dropzone");
for (const name of ["dragenter", "dragover"]) {
  zone.addEventListener(name, (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    zone.classList.add("over");
  });
}
zone.addEventListener("dragleave", (event) => {
  if (!zone.contains(event.relatedTarget)) zone.classList.remove("over");
});
zone.addEventListener("drop", async (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  upload(await droppedFiles(event.dataTransfer));
});
// a file dropped beside the zone must not make the browser leave the page to open it
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());

for (const id of ["#file-input", "#folder-input"]) {
  $(id).addEventListener("change", (event) => {
    const files = Array.from(event.target.files).map((file) => ({ file, path: file.webkitRelativePath || file.name }));
    event.target.value = "";
    upload(files);
  });
}
$("#refresh-jobs").addEventListener("click", loadJobs);

loadJobs();
setInterval(poll, POLL_MS);

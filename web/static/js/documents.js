// /documents: the store's documents, a page at a time, filtered by name and status; the filter
// lives in the address, so a reload or a shared link shows the same page.

import { $, api, badge, el, formatBytes, formatDate, formatNumber, pageUrl, showError, t } from "./common.js";

const form = $("#doc-filter");
const state = { page: 1, per_page: 20, q: "", status: "" };

function readAddress() {
  const params = new URLSearchParams(location.search);
  state.page = Math.max(1, Number(params.get("page")) || 1);
  state.per_page = Number(params.get("per_page")) || 20;
  state.q = params.get("q") || "";
  state.status = params.get("status") || "";
  $("#q").value = state.q;
  $("#status").value = state.status;
  $("#per-page").value = String(state.per_page);
}

function writeAddress() {
  const params = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(state)) {
    if (value && !(key === "page" && value === 1) && !(key === "per_page" && value === 20)) params.set(key, value);
    else params.delete(key);
  }
  const qs = params.toString();
  history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
}

function row(doc) {
  const name = doc.id
    ? el("a", { href: pageUrl("/documents/" + encodeURIComponent(doc.id)), title: doc.source, text: doc.name || doc.source })
    : el("span", { title: doc.source, text: doc.name || doc.source });
  const nameCell = el("td", { class: "name" }, name);
  if (doc.title && doc.title !== doc.name) nameCell.append(el("div", { class: "muted small", text: doc.title }));
  if (doc.error) nameCell.append(el("div", { class: "error small", text: doc.error }));
  return el(
    "tr",
    {},
    nameCell,
    el("td", { text: doc.format || "–" }),
    el("td", { class: "num", text: formatBytes(doc.size) }),
    el("td", { class: "num", text: formatNumber(doc.pages) }),
    el("td", { class: "num", text: formatNumber(doc.chunks) }),
    el("td", { class: "num", text: formatNumber(doc.entities) }),
    el("td", { class: "small", text: formatDate(doc.ingested_at) }),
    el("td", {}, badge(doc.status)),
  );
}

// while files of this page are still being ingested, look again every few seconds
const BUSY = new Set(["queued", "processing", "graph_pending"]);
const REFRESH_MS = 2500;
let refresh = null;

async function load() {
  clearTimeout(refresh);
  writeAddress();
  showError($("#doc-error"), null);
  const query = new URLSearchParams({ page: state.page, per_page: state.per_page });
  if (state.q) query.set("q", state.q);
  if (state.status) query.set("status", state.status);
  try {
    const data = await api("/documents?" + query);
    const pages = Math.max(1, Math.ceil(data.total / data.per_page));
    $("#doc-rows").replaceChildren(...data.documents.map(row));
    $("#doc-empty").hidden = data.documents.length > 0;
    $("#page-info").textContent = t("documents.page_info", { page: data.page, pages, total: data.total });
    $("#prev").disabled = data.page <= 1;
    $("#next").disabled = data.page >= pages;
    if (data.documents.some((d) => BUSY.has(d.status))) refresh = setTimeout(load, REFRESH_MS);
  } catch (error) {
    showError($("#doc-error"), error);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  state.q = $("#q").value.trim();
  state.status = $("#status").value;
  state.per_page = Number($("#per-page").value);
  state.page = 1;
  load();
});
for (const id of ["#status", "#per-page"]) $(id).addEventListener("change", () => form.requestSubmit());
$("#prev").addEventListener("click", () => {
  state.page = Math.max(1, state.page - 1);
  load();
});
$("#next").addEventListener("click", () => {
  state.page += 1;
  load();
});

readAddress();
load();

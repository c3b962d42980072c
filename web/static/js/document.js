// /documents/<id>: one document's chunks in order, its entities, delete and re-ingest.
// ?highlight=<chunk id> (or #chunk-<id>) scrolls to that chunk and marks it.

import { $, api, badge, config, el, formatBytes, formatDate, formatNumber, graphUrl, pageUrl, rememberJob, showError, t } from "./common.js";

const docId = config.doc_id;
const path = "/documents/" + encodeURIComponent(docId);

function meta(doc) {
  const rows = [
    ["document.source", doc.source],
    ["document.doc_title", doc.title],
    ["documents.format", doc.format],
    ["documents.size", formatBytes(doc.size)],
    ["documents.pages", formatNumber(doc.pages)],
    ["documents.ingested_at", formatDate(doc.ingested_at)],
    ["document.id", doc.id],
  ];
  const list = $("#doc-meta");
  list.replaceChildren();
  for (const [key, value] of rows) {
    if (value === null || value === undefined || value === "") continue;
    list.append(el("dt", { text: t(key) }), el("dd", { text: value }));
  }
  list.append(el("dt", { text: t("documents.status") }), el("dd", {}, badge(doc.status)));
  if (doc.error) list.append(el("dt", { text: t("document.error") }), el("dd", { class: "error", text: doc.error }));
  for (const [key, value] of Object.entries(doc.metadata || {})) {
    list.append(el("dt", { text: key }), el("dd", { text: typeof value === "string" ? value : JSON.stringify(value) }));
  }
}

function chunk(c) {
  const anchor = "chunk-" + c.id;
  const head = el(
    "div",
    { class: "chunk-head" },
    el("a", { href: "#" + anchor, text: "#" + (c.ordinal + 1) }),
    c.page !== null && c.page !== undefined ? el("span", { text: t("document.page", { n: c.page }) }) : null,
    c.section ? el("span", { text: c.section }) : null,
    c.kind && c.kind !== "text" ? el("span", { class: "badge", text: c.kind }) : null,
  );
  return el("article", { class: "chunk", id: anchor, dataset: { chunk: c.id } }, head, el("p", { class: "chunk-text", text: c.text }));
}

function highlight() {
  const params = new URLSearchParams(location.search);
  let target = params.get("highlight");
  if (!target && location.hash.startsWith("#chunk-")) target = decodeURIComponent(location.hash.slice(7));
  if (!target) return;
  for (const node of document.querySelectorAll(".chunk.highlight")) node.classList.remove("highlight");
  const node = document.getElementById("chunk-" + target);
  if (!node) return;
  node.classList.add("highlight");
  node.scrollIntoView({ block: "center" });
}

async function load() {
  try {
    const data = await api(path);
    // GET /documents/<id> is {document: DocumentRow, chunks, entities}
    const doc = { ...(data.document || data), chunks: data.chunks, entities: data.entities };
    document.title = (doc.name || doc.source) + " · " + t("app.name");
    $("#doc-name").textContent = doc.name || doc.source;
    meta(doc);
    const chunks = [...(doc.chunks || [])].sort((a, b) => a.ordinal - b.ordinal);
    $("#chunk-count").textContent = `(${chunks.length})`;
    $("#chunks").replaceChildren(...chunks.map(chunk));
    const entities = doc.entities || [];
    $("#entity-count").textContent = `(${entities.length})`;
    $("#no-entities").hidden = entities.length > 0;
    $("#doc-entities").replaceChildren(
      ...entities.map((e) =>
        el("a", { class: "chip", href: graphUrl({ entities: [e.id] }) }, e.name, e.type ? el("span", { class: "type", text: e.type }) : null),
      ),
    );
    const link = $("#doc-graph-link");
    link.hidden = !entities.length;
    // the chunks' entities: the graph page asks the API which entities they mention
    link.href = graphUrl({ chunks: chunks.slice(0, 40).map((c) => c.id) });
    $("#doc").hidden = false;
    highlight();
  } catch (error) {
    showError($("#doc-error"), error);
  } finally {
    $("#doc-loading").hidden = true;
  }
}

$("#delete").addEventListener("click", () => {
  $("#confirm-text").textContent = t("document.delete_confirm", { name: $("#doc-name").textContent });
  $("#confirm-delete").showModal();
});
$("#confirm-delete").addEventListener("close", async () => {
  if ($("#confirm-delete").returnValue !== "delete") return;
  try {
    await api(path, { method: "DELETE" });
    location.href = pageUrl("/documents");
  } catch (error) {
    showError($("#doc-error"), error);
  }
});
$("#reingest").addEventListener("click", async () => {
  const button = $("#reingest");
  button.disabled = true;
  try {
    const { job } = await api(path + "/reingest", { method: "POST" });
    rememberJob(job.id);
    location.href = pageUrl("/upload");
  } catch (error) {
    showError($("#doc-error"), error);
    button.disabled = false;
  }
});
window.addEventListener("hashchange", highlight);

load();

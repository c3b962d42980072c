// /retrieval: retrieve-only with every knob visible, and the three retrieval methods' rankings
// of one question side by side.

import { $, $$, api, chunkUrl, config, el, formatScore, loadDocumentOptions, parseKeyValues, placeIn, renderTimings, showError, t } from "./common.js";
import { expandButton, queryBody, renderTrace, trimExpanders } from "./answer.js";

const form = $("#retrieval-form");
const modeSelect = $("select[name=mode]", form);
const docSelect = $("#doc-filter");
const PALETTE = ["#f4a261", "#2a9d8f", "#e76f51", "#8ab17d", "#9b5de5", "#00b4d8", "#e9c46a", "#f15bb5"];

function syncStrategy() {
  const mode = config.modes.find((m) => m.name === modeSelect.value);
  $(".strategy-field", form).hidden = !(mode && mode.strategies.length);
}

function body() {
  const b = queryBody(form);
  const docIds = Array.from(docSelect.selectedOptions).map((o) => o.value);
  const data = new FormData(form);
  const glob = String(data.get("path_glob") || "").trim();
  const metadata = parseKeyValues(data.get("where"), { multi: true });
  const hasMeta = Object.keys(metadata).length > 0;
  if (docIds.length || glob || hasMeta) {
    b.filters = { doc_ids: docIds, path_glob: glob || null, metadata: hasMeta ? metadata : null };
  }
  return b;
}

function hit(source, rank) {
  const item = el(
    "li",
    { class: "hit", dataset: { chunk: source.chunk_id } },
    el(
      "div",
      { class: "hit-head" },
      el("span", { class: "swatch" }),
      el("span", { class: "hit-rank", text: "#" + rank }),
      el("a", { href: chunkUrl(source.doc_id, source.chunk_id), title: source.document, text: source.title || source.document }),
      el("span", { class: "score", title: t("common.score"), text: formatScore(source.score) }),
    ),
    placeIn(source.location, source.title) ? el("div", { class: "where", text: placeIn(source.location, source.title) }) : null,
    el("p", { class: "hit-text", text: source.text }),
  );
  item.append(expandButton(item));
  return item;
}

function renderHits(list, sources) {
  list.replaceChildren(...sources.map((s, i) => hit(s, i + 1)));
  if (!sources.length) list.append(el("li", { class: "muted", text: t("retrieval.no_results") }));
  trimExpanders(list);
}

let busy = false;
async function guarded(work) {
  if (busy) return;
  let b;
  try {
    b = body();
  } catch (error) {  // a metadata filter that is not key=value
    showError($("#retrieval-error"), error);
    return;
  }
  if (!b.question) {
    form.reportValidity();
    return;
  }
  busy = true;
  $$("button", form).forEach((button) => (button.disabled = true));
  showError($("#retrieval-error"), null);
  $("#retrieval-status").hidden = false;
  try {
    await work(b);
  } catch (error) {
    showError($("#retrieval-error"), error);
  } finally {
    busy = false;
    $$("button", form).forEach((button) => (button.disabled = false));
    $("#retrieval-status").hidden = true;
  }
}

async function retrieve(b) {
  const started = performance.now();
  const data = await api("/retrieve", { method: "POST", json: b });
  $("#methods").hidden = true;
  $("#single").hidden = false;
  renderHits($("#hits"), data.sources || []);
  renderTrace($("#single-trace"), data.trace);
  renderTimings($("#single-timings"), data.timings, (performance.now() - started) / 1000);
}

async function compareMethods(b) {
  $("#single").hidden = true;
  $("#methods").hidden = false;
  const columns = $$("#methods .column");
  for (const column of columns) {
    $(".hits", column).replaceChildren();
    $(".timings", column).replaceChildren();
    showError($(".error", column), null);
  }
  const seen = new Map(); // chunk id → how many methods ranked it
  for (const column of columns) {
    const started = performance.now();
    try {
      const data = await api("/retrieve", { method: "POST", json: { ...b, method: column.dataset.method } });
      renderHits($(".hits", column), data.sources || []);
      renderTimings($(".timings", column), data.timings, (performance.now() - started) / 1000);
      for (const s of data.sources || []) seen.set(s.chunk_id, (seen.get(s.chunk_id) || 0) + 1);
    } catch (error) {
      showError($(".error", column), error);
    }
  }
  // a passage two or more methods found gets one colour in every column
  let next = 0;
  const colours = new Map();
  for (const [chunk, n] of seen) if (n > 1) colours.set(chunk, PALETTE[next++ % PALETTE.length]);
  for (const item of $$("#methods .hit")) {
    const colour = colours.get(item.dataset.chunk);
    if (colour) $(".swatch", item).style.background = colour;
  }
}

// hovering a passage marks the same passage in the other columns
$("#methods").addEventListener("mouseover", (event) => {
  const item = event.target.closest(".hit");
  for (const other of $$("#methods .hit")) other.classList.toggle("same", !!item && other.dataset.chunk === item.dataset.chunk && other !== item);
});
$("#methods").addEventListener("mouseleave", () => $$("#methods .hit.same").forEach((n) => n.classList.remove("same")));

let searchTimer = null;
$("#doc-search").addEventListener("input", (event) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => loadDocumentOptions(docSelect, event.target.value.trim()).catch((e) => showError($("#retrieval-error"), e)), 250);
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(retrieve);
});
$("#compare-methods").addEventListener("click", () => guarded(compareMethods));
modeSelect.addEventListener("change", syncStrategy);
syncStrategy();
loadDocumentOptions(docSelect).catch((error) => showError($("#retrieval-error"), error));

// /graph: find entities, draw their neighbourhood with vis-network (pan, zoom, drag), and show
// what an entity or a relation is and which passages state it. ?entities= or ?chunks= (from
// "show in graph") load and highlight those entities. vis-network draws labels on a canvas and
// gets its tooltips as elements built with textContent, so names and descriptions stay text.

import { $, api, chunkUrl, el, fill, formatNumber, showError, t } from "./common.js";

const PALETTE = ["#3556d4", "#2a9d8f", "#e76f51", "#8a5cd1", "#e9a23b", "#4c9f38", "#d1497b", "#2f8fbf", "#7a7f8c"];
const SEED = "#f59e0b";
const LIMIT = 150;
const FONT = 'system-ui, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif';

if (typeof vis === "undefined") {
  // web/static/vendor is built at setup (scripts/vendor_js.sh), not committed
  showError($("#graph-error"), t("graph.no_library"));
  throw new Error("vis-network is not loaded");
}

const container = $("#network");
const details = $("#details");
const errorBox = $("#graph-error");
const nodes = new vis.DataSet();
const edges = new vis.DataSet();
const entities = new Map(); // id → node as the API sent it
const relations = new Map(); // id → edge as the API sent it
let current = {}; // what the address says is shown: {entities} or {chunks}

const network = new vis.Network(container, { nodes, edges }, {
  nodes: {
    shape: "dot",
    scaling: { min: 8, max: 28, label: { enabled: true, min: 12, max: 20 } },
    font: { face: FONT, size: 13, color: "#1d2330", strokeWidth: 3, strokeColor: "#ffffff" },
    borderWidth: 1,
  },
  edges: {
    color: { color: "#c5cbd6", highlight: "#3556d4", hover: "#8a96ad" },
    smooth: { type: "continuous" },
    scaling: { min: 1, max: 5 },
  },
  physics: {
    solver: "forceAtlas2Based",
    forceAtlas2Based: { gravitationalConstant: -45, springLength: 90 },
    stabilization: { iterations: 200 },
  },
  interaction: { hover: true, tooltipDelay: 150, multiselect: true, keyboard: { enabled: true, bindToWindow: false } },
});

// for the browser tests and the console: the network and its data
window.ragGraph = { network, nodes, edges };

function colour(type) {
  let h = 0;
  for (const ch of String(type || "")) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

function tooltip(...lines) {
  return el("div", { class: "small" }, lines.filter(Boolean).map((line, i) => el(i ? "div" : "strong", { text: line })));
}

function excerpt(text, n = 160) {
  return text && text.length > n ? text.slice(0, n) + "…" : text || "";
}

function toNode(n) {
  const c = colour(n.type);
  const node = {
    id: n.id,
    label: n.name,
    value: Math.max(1, n.degree || 1),
    // the entities asked for (?entities=, ?chunks=) wear an amber ring
    color: { background: c, border: n.seed ? SEED : c, highlight: { background: c, border: "#111827" } },
    borderWidth: n.seed ? 4 : 1,
    title: tooltip(n.name, n.type, excerpt(n.description)),
  };
  if (n.seed) node.font = { face: FONT, size: 15, color: "#111827", strokeWidth: 3, strokeColor: "#ffffff" };
  return node;
}

function toEdge(e) {
  return { id: e.id, from: e.source, to: e.target, value: e.weight || 1, title: tooltip(excerpt(e.description, 220)) };
}

function caption() {
  $("#graph-caption").textContent = t("graph.caption", { nodes: nodes.length, edges: edges.length });
  $("#graph-empty").hidden = nodes.length > 0;
}

function setAddress(params) {
  current = params;
  const query = new URLSearchParams();
  if (params.entities && params.entities.length) query.set("entities", params.entities.join(","));
  if (params.chunks && params.chunks.length) query.set("chunks", params.chunks.join(","));
  const lang = new URLSearchParams(location.search).get("lang");
  if (lang) query.set("lang", lang);
  history.replaceState(null, "", location.pathname + (query.toString() ? "?" + query : ""));
}

/** Load a neighbourhood; `merge` adds it to what is drawn (expanding a node) instead of replacing. */
async function loadSubgraph(params, { merge = false } = {}) {
  showError(errorBox, null);
  const query = new URLSearchParams({ depth: $("#depth").value, limit: LIMIT });
  if (params.entities && params.entities.length) query.set("entities", params.entities.join(","));
  if (params.chunks && params.chunks.length) query.set("chunks", params.chunks.join(","));
  try {
    const data = await api("/graph/subgraph?" + query);
    if (!merge) {
      nodes.clear();
      edges.clear();
      entities.clear();
      relations.clear();
      setAddress(params);
    }
    for (const n of data.nodes) entities.set(n.id, n);
    for (const e of data.edges) relations.set(e.id, e);
    nodes.update(data.nodes.map((n) => (merge && nodes.get(n.id) ? { id: n.id } : toNode(n))));
    edges.update(data.edges.map(toEdge));
    // a new neighbourhood is laid out afresh (and fitted once stable); an expansion keeps moving
    if (!merge) network.setData({ nodes, edges });
    caption();
    return data;
  } catch (error) {
    showError(errorBox, error);
    return null;
  }
}

// ---- the side panel ---------------------------------------------------------------------

function chunkRefs(chunks) {
  if (!chunks || !chunks.length) return el("p", { class: "muted small", text: t("graph.no_chunks") });
  return el(
    "div",
    {},
    chunks.map((c) =>
      el(
        "div",
        { class: "chunk-ref" },
        el("a", { href: chunkUrl(c.doc_id, c.chunk_id), text: c.document || c.doc_id }),
        c.location ? el("span", { class: "muted", text: " · " + c.location }) : null,
        el("p", { text: c.text }),
      ),
    ),
  );
}

function entityButton(ref) {
  return el("button", {
    type: "button",
    class: "rel-other",
    text: ref.name,
    onclick: () => focusEntity(ref.id),
  });
}

async function showEntity(id) {
  details.replaceChildren(el("p", { class: "muted" }, el("span", { class: "spinner" }), " ", t("common.loading")));
  try {
    const data = await api("/graph/entities/" + encodeURIComponent(id));
    const e = data.entity;
    fill(
      details,
      el("h2", { text: e.name }),
      el("div", { class: "type", text: [e.type, t("graph.degree", { n: formatNumber(e.degree) }), t("graph.chunk_count", { n: formatNumber(e.chunks) })].filter(Boolean).join(" · ") }),
      e.description ? el("p", { class: "desc", text: e.description }) : null,
      e.aliases && e.aliases.length ? el("p", { class: "small" }, el("span", { class: "muted", text: t("graph.aliases") + ": " }), e.aliases.join(", ")) : null,
      el(
        "div",
        { class: "row" },
        el("button", { type: "button", class: "small", text: t("graph.expand"), onclick: () => loadSubgraph({ entities: [e.id] }, { merge: true }) }),
        el("button", { type: "button", class: "small ghost", text: t("graph.center"), onclick: () => loadSubgraph({ entities: [e.id] }) }),
      ),
      el("h3", { text: t("graph.relations") + ` (${data.relations.length})` }),
      data.relations.length
        ? el(
            "ul",
            {},
            data.relations.map((r) =>
              el(
                "li",
                {},
                entityButton(r.other),
                " — ",
                el("span", { text: excerpt(r.description, 200) }),
                " ",
                el("button", { type: "button", class: "expand", text: t("graph.relation_details"), onclick: () => showRelation(r.id) }),
              ),
            ),
          )
        : el("p", { class: "muted small", text: t("graph.no_relations") }),
      el("h3", { text: t("graph.sources") }),
      chunkRefs(data.chunks),
    );
  } catch (error) {
    details.replaceChildren(el("div", { class: "error", text: error.message }));
  }
}

async function showRelation(id) {
  details.replaceChildren(el("p", { class: "muted" }, el("span", { class: "spinner" }), " ", t("common.loading")));
  try {
    const data = await api("/graph/relations/" + encodeURIComponent(id));
    if (edges.get(id)) network.selectEdges([id]);
    const r = data.relation || {};
    const keywords = Array.isArray(r.keywords) ? r.keywords.join(", ") : r.keywords;
    fill(
      details,
      el("h2", {}, entityButton(data.source), " — ", entityButton(data.target)),
      el("div", { class: "type", text: t("graph.relation") + (r.weight ? " · " + t("graph.weight", { n: r.weight }) : "") }),
      r.description ? el("p", { class: "desc", text: r.description }) : null,
      keywords ? el("p", { class: "small" }, el("span", { class: "muted", text: t("graph.keywords") + ": " }), keywords) : null,
      el("h3", { text: t("graph.sources") }),
      chunkRefs(data.chunks),
    );
  } catch (error) {
    details.replaceChildren(el("div", { class: "error", text: error.message }));
  }
}

/** Show an entity: select it when drawn, else draw its neighbourhood first. */
async function focusEntity(id) {
  if (!nodes.get(id)) await loadSubgraph({ entities: [id] });
  if (nodes.get(id)) {
    network.selectNodes([id]);
    network.focus(id, { scale: 0.9, animation: { duration: 300 } });
  }
  showEntity(id);
}

network.on("click", (params) => {
  if (params.nodes.length) showEntity(params.nodes[0]);
  else if (params.edges.length) showRelation(params.edges[0]);
});
network.on("doubleClick", (params) => {
  if (params.nodes.length) loadSubgraph({ entities: [params.nodes[0]] }, { merge: true });
});

// ---- search and communities -------------------------------------------------------------

async function search(q) {
  try {
    const data = await api("/graph/entities?" + new URLSearchParams({ q, limit: 20 }));
    $("#entity-results").replaceChildren(
      ...data.entities.map((e) =>
        el(
          "li",
          {},
          el(
            "button",
            { type: "button", class: "ghost", onclick: () => focusEntity(e.id) },
            el("span", { text: e.name }),
            el("span", { class: "type", text: [e.type, e.degree].filter((x) => x !== null && x !== undefined && x !== "").join(" · ") }),
          ),
        ),
      ),
    );
    if (!data.entities.length) $("#entity-results").append(el("li", { class: "muted small", text: t("graph.no_match") }));
    return data.entities;
  } catch (error) {
    showError(errorBox, error);
    return [];
  }
}

let communities = [];
function renderCommunities() {
  const level = $("#community-level").value;
  const shown = communities.filter((c) => level === "" || String(c.level) === level);
  $("#communities").replaceChildren(
    ...shown.map((c) =>
      el(
        "details",
        {},
        el("summary", {}, c.title || c.id, " ", el("span", { class: "count", text: `(${c.size})` })),
        el("p", { text: c.summary || "" }),
        el("button", {
          type: "button",
          class: "small",
          text: t("graph.show_community"),
          onclick: () => loadSubgraph({ entities: (c.entity_ids || []).slice(0, 60) }),
        }),
      ),
    ),
  );
  if (!shown.length) $("#communities").append(el("p", { class: "muted small", text: t("graph.no_communities") }));
}

async function loadCommunities() {
  try {
    const data = await api("/graph/communities");
    communities = data.communities || [];
    const levels = [...new Set(communities.map((c) => c.level))].sort((a, b) => a - b);
    const select = $("#community-level");
    for (const level of levels) select.append(el("option", { value: level, text: t("graph.level_n", { n: level }) }));
    renderCommunities();
  } catch (error) {
    showError(errorBox, error);
  }
}

let timer = null;
$("#entity-q").addEventListener("input", (event) => {
  clearTimeout(timer);
  timer = setTimeout(() => search(event.target.value.trim()), 250);
});
$("#entity-search").addEventListener("submit", async (event) => {
  event.preventDefault();
  const found = await search($("#entity-q").value.trim());
  if (found.length) focusEntity(found[0].id);
});
$("#community-level").addEventListener("change", renderCommunities);
$("#depth").addEventListener("change", () => loadSubgraph(current));
$("#fit").addEventListener("click", () => network.fit({ animation: { duration: 300 } }));

async function start() {
  const params = new URLSearchParams(location.search);
  const split = (key) => (params.get(key) || "").split(",").map((s) => s.trim()).filter(Boolean);
  const wanted = { entities: split("entities"), chunks: split("chunks") };
  const top = await search("");
  if (wanted.entities.length || wanted.chunks.length) {
    const data = await loadSubgraph(wanted);
    if (data && wanted.entities.length === 1) showEntity(wanted.entities[0]);
  } else if (top.length) {
    // nothing asked for: the most connected entities, to start from
    await loadSubgraph({ entities: top.slice(0, 5).map((e) => e.id) });
  } else {
    caption();
  }
  loadCommunities();
}

start();

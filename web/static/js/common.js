// What every page script shares: its config and strings, DOM building, the API client and the
// SSE reader. Text from documents and models only ever reaches the page as textContent (el()
// and append() make text nodes), so a document containing <script> shows as text.

function readJSON(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : {};
}

export const config = readJSON("page-config");
const strings = readJSON("i18n");

// The language switch keeps what the page has put in its address since it loaded (a question,
// a filter, a page number): the link is made from the address at the moment it is followed.
for (const link of document.querySelectorAll("a.lang-switch")) {
  link.addEventListener("click", () => {
    const url = new URL(location.href);
    url.searchParams.set("lang", link.hreflang);
    link.href = url.pathname + url.search + url.hash;
  });
}

/** The interface string `key` in the page's language; `{name}` placeholders filled from values. */
export function t(key, values = {}) {
  // a key may have a singular form, "<key>.one", used when n is 1
  let text = Number(values.n) === 1 && key + ".one" in strings ? strings[key + ".one"] : strings[key];
  if (text === undefined) {
    console.warn("missing interface string", key);
    text = key;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

export const hasString = (key) => key in strings;

/** createElement with attributes ("class", "text", "dataset", on<event>) and children (nodes or text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Replace a node's children, skipping null/false the way el() does (replaceChildren would print "null"). */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

export function showError(node, error) {
  if (!node) return;
  if (!error) {
    node.hidden = true;
    node.textContent = "";
    return;
  }
  node.textContent = error instanceof ApiError || error instanceof Error ? error.message : String(error);
  node.hidden = false;
}

/** "team=infra, year=2024" (commas or new lines between pairs) as an object; a piece that is
 * not key=value throws, naming it. The server checks the values again. */
export function parseKeyValues(text, { multi = false } = {}) {
  const out = {};
  for (const piece of String(text || "").split(/[,\n，]/)) {
    const item = piece.trim();
    if (!item) continue;
    const eq = item.indexOf("=");
    const key = eq > 0 ? item.slice(0, eq).trim() : "";
    if (!key) throw new Error(t("filters.bad_pair", { item }));
    const value = item.slice(eq + 1).trim();
    if (multi) (out[key] = out[key] || []).push(value);
    else out[key] = value;
  }
  return out;
}

// ---- URLs -------------------------------------------------------------------------------

export function pageUrl(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, value);
  }
  const qs = query.toString();
  return config.root + path + (qs ? "?" + qs : "");
}

/** The document page scrolled to one chunk, which it highlights. */
export function chunkUrl(docId, chunkId) {
  const base = pageUrl("/documents/" + encodeURIComponent(docId), chunkId ? { highlight: chunkId } : {});
  return chunkId ? base + "#chunk-" + encodeURIComponent(chunkId) : base;
}

export function graphUrl({ entities = [], chunks = [] } = {}) {
  return pageUrl("/graph", { entities: entities.join(","), chunks: chunks.join(",") });
}

/** A passage's location without the document title it usually starts with (shown beside it). */
export function placeIn(location, title) {
  if (!location || location === title) return "";
  return title && location.startsWith(title + " > ") ? location.slice(title.length + 3) : location;
}

// ---- the API ----------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, code, message, body = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body; // the reply's JSON, when it had one
  }
}

/**
 * Say in `node`, before anyone asks, that this server cannot answer yet: GET /health is 503
 * when a model the settings need is not installed (the message names what is missing).
 */
export async function warnIfNotReady(node) {
  let health;
  try {
    health = await api("/health");
  } catch (error) {
    health = error.body;
  }
  const missing = Object.entries((health && health.models) || {}).filter(([, m]) => !m.installed);
  node.hidden = !missing.length;
  node.textContent = missing.map(([role, m]) => t("health.missing", { role, name: m.name })).join(" ");
}

export function toLogin() {
  location.href = pageUrl("/login", { next: location.pathname + location.search });
}

async function check(response) {
  if (response.status === 401) {
    toLogin();
    throw new ApiError(401, "unauthorized", t("error.unauthorized"));
  }
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    const error = body && body.error;
    throw new ApiError(
      response.status,
      (error && error.code) || "http_" + response.status,
      (error && error.message) || t("error.http", { status: response.status, text: response.statusText }),
      body,
    );
  }
  return body;
}

async function send(path, init) {
  try {
    return await fetch(config.api + path, { credentials: "same-origin", ...init });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network", t("error.network"));
  }
}

/** Call the JSON API: `json` is sent as the body, `form` (FormData) as multipart. */
export async function api(path, { method = "GET", json, form, signal } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  return check(await send(path, { method, headers, body, signal }));
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  try {
    return { event, data: JSON.parse(text) };
  } catch {
    return { event, data: text };
  }
}

/**
 * POST `body` and call onEvent(name, data) for each server-sent event of the reply.
 * EventSource cannot POST, so the reply's ReadableStream is read and split here.
 * A server that answers with plain JSON instead is reported as one "done" event.
 */
export async function streamEvents(path, body, onEvent, signal) {
  const response = await send(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal,
  });
  const type = response.headers.get("Content-Type") || "";
  if (!response.ok || !type.includes("text/event-stream")) {
    onEvent("done", await check(response));
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer = (buffer + value).replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const parsed = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (parsed) onEvent(parsed.event, parsed.data);
    }
  }
  const rest = parseEvent(buffer.trim());
  if (rest) onEvent(rest.event, rest.data);
}

// ---- ingestion jobs this browser started (the upload page shows them after a reload) ------

const JOBS_KEY = "rag.jobs";

export function rememberedJobs() {
  try {
    const ids = JSON.parse(localStorage.getItem(JOBS_KEY) || "[]");
    return Array.isArray(ids) ? ids.filter((id) => typeof id === "string") : [];
  } catch {
    return [];
  }
}

function storeJobs(ids) {
  try {
    localStorage.setItem(JOBS_KEY, JSON.stringify(ids.slice(0, 50)));
  } catch {
    // storage full or disabled: the server's recent-jobs list still shows them
  }
}

export const rememberJob = (id) => storeJobs([id, ...rememberedJobs().filter((x) => x !== id)]);
export const forgetJob = (id) => storeJobs(rememberedJobs().filter((x) => x !== id));

// ---- formatting -------------------------------------------------------------------------

const locale = config.lang === "zh" ? "zh-CN" : "en";

export function formatBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : String(n)) + " " + units[i];
}

export function formatDate(epochSeconds) {
  if (!epochSeconds) return "–";
  return new Date(epochSeconds * 1000).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}

export function formatSeconds(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return "–";
  return s < 1 ? Math.round(s * 1000) + " ms" : s.toFixed(s < 10 ? 2 : 1) + " s";
}

export function formatNumber(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString(locale);
}

export function formatScore(x) {
  return typeof x === "number" ? x.toFixed(4) : "–";
}

export function badge(state, label) {
  return el("span", { class: "badge " + state, text: label || t("status." + state) });
}

/** Timings as "label value" pairs; `client` is the time the page itself measured. */
export function renderTimings(node, timings = {}, client = null) {
  node.replaceChildren();
  const pairs = Object.entries(timings || {}).filter(([, v]) => typeof v === "number");
  if (client !== null) pairs.push(["client_s", client]);
  for (const [key, value] of pairs) {
    const label = hasString("timing." + key) ? t("timing." + key) : key;
    node.append(el("span", {}, label + " ", el("b", { text: formatSeconds(value) })));
  }
}

/** Fill a <select> with the store's documents (id → name), keeping what is selected. */
export async function loadDocumentOptions(select, q = "") {
  const keep = new Set(Array.from(select.selectedOptions).map((o) => o.value));
  const data = await api("/documents?" + new URLSearchParams({ page: 1, per_page: 100, q }));
  const seen = new Set();
  for (const option of Array.from(select.options)) {
    if (!keep.has(option.value)) option.remove();
    else seen.add(option.value);
  }
  for (const doc of data.documents) {
    if (!doc.id || seen.has(doc.id)) continue;
    select.append(el("option", { value: doc.id, text: doc.name || doc.source }));
  }
  return data;
}

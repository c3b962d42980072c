// Answers on the page: citation markers built as tokens stream in, the source list, the trace of
// what a mode did, and one function that streams POST /ask into those parts (ask and compare).

import {
  $,
  ApiError,
  chunkUrl,
  config,
  el,
  formatScore,
  graphUrl,
  hasString,
  placeIn,
  renderTimings,
  showError,
  streamEvents,
  t,
} from "./common.js";

// The server's own citation pattern ([1], [1, 2], [1][2], 【1】); group 1 holds the numbers.
const CITATION = new RegExp(config.citation, "gu");
// An opening bracket at the end of the text that may still become a citation with more tokens.
const PARTIAL = /[[【][\s\d,，、]*$/u;
const citeSource = new WeakMap(); // marker element → its Source

/** The answer text of one question, rendered into `node` as it streams. */
export class AnswerText {
  constructor(node) {
    this.node = node;
    this.sources = new Map();
    this.reset();
  }

  reset() {
    this.raw = "";
    this.shown = 0; // how much of raw is on the page; the rest may be half a citation
    this.node.replaceChildren();
  }

  setSources(sources) {
    this.sources = new Map((sources || []).map((s) => [s.n, s]));
  }

  push(text) {
    this.raw += text;
    this.render(false);
  }

  /** The whole text, once the stream ends (the server's copy is trimmed: it replaces ours). */
  finish(text) {
    if (typeof text === "string" && text !== this.raw) {
      this.reset();
      this.raw = text;
    }
    this.render(true);
  }

  render(final) {
    const pending = this.raw.slice(this.shown);
    let end = pending.length;
    if (!final) {
      const partial = PARTIAL.exec(pending);
      if (partial) end = partial.index;
    }
    const part = pending.slice(0, end);
    let last = 0;
    for (const match of part.matchAll(CITATION)) {
      this.text(part.slice(last, match.index));
      for (const n of match[1].split(/[\s,，、]+/u).filter(Boolean)) this.node.append(this.marker(Number(n)));
      last = match.index + match[0].length;
    }
    this.text(part.slice(last));
    this.shown += end;
  }

  text(s) {
    if (!s) return;
    const tail = this.node.lastChild;
    if (tail && tail.nodeType === Node.TEXT_NODE) tail.data += s;
    else this.node.append(document.createTextNode(s));
  }

  marker(n) {
    const source = this.sources.get(n);
    if (!source) {
      return el("span", { class: "cite unknown", dataset: { n }, tabindex: 0, text: n, "aria-label": t("ask.cite_unknown", { n }) });
    }
    const node = el("a", {
      class: "cite",
      href: chunkUrl(source.doc_id, source.chunk_id),
      dataset: { n, chunk: source.chunk_id },
      text: n,
      "aria-label": t("ask.cite_label", { n, document: source.title || source.document }),
    });
    citeSource.set(node, source);
    return node;
  }
}

// Source.document is the stored file's path; its last part is what a reader recognises
const fileName = (path) => String(path || "").split(/[\\/]/).pop();

// ---- the citation tooltip: one element for the page, filled with textContent ----------------

function tooltipFor(marker) {
  const tip = $("#cite-tip");
  const source = citeSource.get(marker);
  tip.replaceChildren();
  if (!source) {
    tip.append(el("div", { text: t("ask.cite_unknown", { n: marker.dataset.n }) }));
  } else {
    const text = source.text.length > 700 ? source.text.slice(0, 700) + "…" : source.text;
    tip.append(
      el("div", { class: "tip-head", text: `[${source.n}] ${source.title || source.document}` }),
      el("div", { class: "tip-loc", text: [fileName(source.document), placeIn(source.location, source.title)].filter(Boolean).join(" · ") }),
      el("div", { class: "tip-text", text }),
    );
  }
  tip.hidden = false;
  const box = marker.getBoundingClientRect();
  const width = Math.min(448, window.innerWidth - 16);
  let left = box.left + window.scrollX;
  left = Math.max(8, Math.min(left, window.scrollX + window.innerWidth - width - 8));
  tip.style.left = left + "px";
  const below = box.bottom + window.scrollY + 6;
  tip.style.top = below + "px";
  const tipBox = tip.getBoundingClientRect();
  if (tipBox.bottom > window.innerHeight && box.top > tipBox.height + 12) {
    tip.style.top = box.top + window.scrollY - tipBox.height - 6 + "px";
  }
}

function hideTooltip() {
  const tip = $("#cite-tip");
  if (tip) tip.hidden = true;
}

for (const [on, off] of [["mouseover", "mouseout"], ["focusin", "focusout"]]) {
  document.addEventListener(on, (event) => {
    const marker = event.target.closest && event.target.closest(".cite");
    if (marker) tooltipFor(marker);
  });
  document.addEventListener(off, (event) => {
    if (event.target.closest && event.target.closest(".cite")) hideTooltip();
  });
}

// ---- sources ------------------------------------------------------------------------------

export function sourceItem(source, { cited = false } = {}) {
  const name = source.title || source.document;
  const text = el("p", { class: "source-text", text: source.text });
  const item = el(
    "li",
    { class: "source" + (cited ? " cited" : ""), dataset: { n: source.n, chunk: source.chunk_id } },
    el(
      "div",
      { class: "source-head" },
      el("span", { class: "source-n", text: `[${source.n}]` }),
      el("a", { href: chunkUrl(source.doc_id, source.chunk_id), title: source.document, text: name }),
      el("span", { class: "score", title: t("common.score"), text: formatScore(source.score) }),
    ),
    placeIn(source.location, source.title) ? el("div", { class: "where", text: placeIn(source.location, source.title) }) : null,
    text,
  );
  item.append(expandButton(item));
  return item;
}

/** "Show more" / "show less" for a passage in a list that cuts passages at a height. */
export function expandButton(item) {
  return el("button", {
    type: "button",
    class: "expand",
    text: t("common.more"),
    onclick: (event) => {
      const open = item.classList.toggle("open");
      event.currentTarget.textContent = open ? t("common.less") : t("common.more");
    },
  });
}

/** Offer "show more" only on passages cut short by the list's height limit. */
export function trimExpanders(root) {
  requestAnimationFrame(() => {
    for (const button of root.querySelectorAll(".expand")) {
      const text = button.previousElementSibling;
      // a passage not laid out (inside a closed <details>) keeps its button
      if (text && text.clientHeight && !button.parentElement.classList.contains("open")) {
        button.hidden = text.scrollHeight <= text.clientHeight + 2;
      }
    }
  });
}

export function renderSources(list, sources, cited = []) {
  const citedSet = new Set(cited);
  list.replaceChildren(...(sources || []).map((s) => sourceItem(s, { cited: citedSet.has(s.n) })));
  if (!sources || !sources.length) list.append(el("li", { class: "muted", text: t("ask.no_sources") }));
  trimExpanders(list);
}

// ---- the trace ----------------------------------------------------------------------------

function describe(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((v) => typeof v === "string" && /^[0-9a-f]{8,}$/i.test(v))) {
    return t("trace.ids", { n: value.length });
  }
  if (Array.isArray(value) && value.every((v) => v && typeof v === "object")) {
    // e.g. global_map's reports [{title, score}]: one line each
    return value.map((v) => Object.values(v).map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(" · ")).join("\n");
  }
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function planStep(step) {
  const parts = [step.op];
  if (step.question) parts.push(step.question);
  if (step.entity) parts.push(t("trace.entity") + ": " + step.entity);
  if (step.expression) parts.push(t("trace.expression") + ": " + step.expression);
  if (step.inputs && step.inputs.length) parts.push(t("trace.inputs") + ": " + step.inputs.map((i) => "#" + i).join(", "));
  return el("li", { text: parts.join(" — ") });
}

function traceStep(step) {
  if (step.step === "plan") {
    return el(
      "div",
      { class: "trace-step plan" },
      el("div", { class: "op", text: t("trace.plan") }),
      el("ol", { class: "plan-list" }, (step.steps || []).map(planStep)),
    );
  }
  if (step.step === "match_entities") {
    const entities = step.entities || [];
    return el(
      "div",
      { class: "trace-step" },
      el("div", { class: "op", text: t("trace.match_entities") }),
      entities.length
        ? el("div", { class: "chips" }, entities.map((e) => el("span", { class: "chip", title: e.how, text: `${e.name} · ${e.score}` })))
        : el("div", { class: "muted", text: t("trace.no_entities") }),
    );
  }
  const kind = "trace.kind." + step.step;
  const head =
    typeof step.step === "number"
      ? t("trace.step", { n: step.step }) + (step.op ? " · " + step.op : "")
      : hasString(kind) ? t(kind) : String(step.step);
  const rows = Object.entries(step).filter(([key]) => !["step", "op"].includes(key));
  return el(
    "div",
    { class: "trace-step" + (step.step === "fallback" ? " plan" : "") },
    el("div", { class: "op", text: head }),
    rows.length
      ? el("dl", {}, rows.flatMap(([key, value]) => [el("dt", { text: hasString("trace.key." + key) ? t("trace.key." + key) : key }), el("dd", { class: key === "result" ? "result" : "", text: describe(value) })]))
      : null,
  );
}

export function renderTrace(node, trace) {
  node.replaceChildren(...(trace || []).map(traceStep));
  if (!trace || !trace.length) node.append(el("p", { class: "muted", text: t("trace.empty") }));
}

/** The graph page link for an answer: its cited passages, else all its passages. */
export function answerGraphLink(sources, cited = []) {
  const citedSet = new Set(cited);
  const chosen = (sources || []).filter((s) => !citedSet.size || citedSet.has(s.n));
  return chosen.length ? graphUrl({ chunks: [...new Set(chosen.map((s) => s.chunk_id))] }) : null;
}

// ---- one streamed answer ----------------------------------------------------------------

/**
 * Stream POST /ask into `view` ({answer, sources, trace, timings, thinking, error, graphRow,
 * graphLink, status}); resolves with the Answer JSON, or null when it failed or was stopped.
 */
export async function streamAnswer(view, body, signal) {
  const text = new AnswerText(view.answer);
  const started = performance.now();
  let firstToken = null;
  let sources = [];
  let answer = null;
  const setStatus = (s) => {
    if (view.status) view.status.textContent = s;
  };
  showError(view.error, null);
  view.sources.replaceChildren();
  view.trace.replaceChildren();
  view.timings.replaceChildren();
  if (view.graphRow) view.graphRow.hidden = true;
  view.thinking.hidden = false;
  view.answer.classList.add("streaming");
  setStatus(t("ask.retrieving"));
  const showGraph = (cited) => {
    const href = ["graph", "kag"].includes(body.mode) ? answerGraphLink(sources, cited) : null;
    if (view.graphRow && href) {
      view.graphLink.href = href;
      view.graphRow.hidden = false;
    }
  };
  try {
    await streamEvents("/ask", { ...body, stream: true }, (event, data) => {
      if (event === "sources") {
        sources = data.sources || [];
        text.setSources(sources);
        renderSources(view.sources, sources);
        renderTrace(view.trace, data.trace);
        if (view.count) view.count.textContent = `(${sources.length})`;
        showGraph([]);
        setStatus(t("ask.thinking"));
      } else if (event === "token") {
        if (firstToken === null) {
          firstToken = (performance.now() - started) / 1000;
          view.thinking.hidden = true;
          setStatus(t("ask.generating"));
        }
        text.push(data.text || "");
      } else if (event === "done") {
        answer = data;
        sources = answer.sources || sources;
        text.setSources(sources);
        text.finish(answer.answer);
        renderSources(view.sources, sources, answer.cited);
        renderTrace(view.trace, answer.trace);
        if (view.count) view.count.textContent = `(${sources.length})`;
        showGraph(answer.cited || []);
      } else if (event === "error") {
        const error = data.error || {};
        throw new ApiError(200, error.code || "error", error.message || t("error.unknown"));
      }
    }, signal);
  } catch (error) {
    text.finish();
    if (error.name === "AbortError") {
      setStatus(t("ask.stopped"));
    } else {
      showError(view.error, error);
      setStatus(t("ask.failed"));
    }
    answer = null;
  } finally {
    view.thinking.hidden = true;
    view.answer.classList.remove("streaming");
  }
  const total = (performance.now() - started) / 1000;
  renderTimings(view.timings, answer ? answer.timings : {}, total);
  if (answer) setStatus(t("ask.done"));
  return answer;
}

/** The request body from a question form's fields (empty fields: the server's defaults). */
export function queryBody(form) {
  const data = new FormData(form);
  const body = { question: String(data.get("question") || "").trim() };
  for (const key of ["mode", "strategy", "method"]) {
    const value = data.get(key);
    if (value) body[key] = String(value);
  }
  const k = data.get("k");
  if (k) body.k = Number(k);
  if (body.mode && !modeHasStrategies(body.mode)) delete body.strategy;
  return body;
}

/** Whether the mode takes a graph strategy (the server's mode registry says, in the config). */
export function modeHasStrategies(mode) {
  const spec = config.modes.find((m) => m.name === mode);
  return Boolean(spec && spec.strategies.length);
}

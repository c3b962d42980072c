// /compare: one question answered by every mode in turn (the local model answers one request at
// a time anyway), streamed into side-by-side columns.

import { $, $$, t, warnIfNotReady } from "./common.js";
import { modeHasStrategies, queryBody, streamAnswer } from "./answer.js";

const form = $("#compare-form");
const stop = $("#stop");
const submit = $("#submit");
let running = null;

function columnView(column) {
  return {
    mode: column.dataset.mode,
    status: $(".col-status", column),
    answer: $(".answer", column),
    sources: $(".sources", column),
    count: $(".col-sources .count", column),
    trace: $(".trace", column),
    timings: $(".timings", column),
    thinking: $(".col-spin", column),
    error: $(".error", column),
    graphRow: $(".graph-link-row", column),
    graphLink: $(".graph-link", column),
  };
}

async function compare(event) {
  event.preventDefault();
  const base = queryBody(form);
  if (!base.question || running) return;
  running = new AbortController();
  submit.disabled = true;
  stop.hidden = false;
  const views = $$(".column").map(columnView);
  for (const view of views) {
    view.answer.replaceChildren();
    view.sources.replaceChildren();
    view.trace.replaceChildren();
    view.timings.replaceChildren();
    view.count.textContent = "";
    view.status.textContent = t("compare.waiting");
  }
  try {
    for (const view of views) {
      if (running.signal.aborted) {
        view.status.textContent = t("ask.stopped");
        continue;
      }
      const body = { ...base, mode: view.mode };
      if (!modeHasStrategies(view.mode)) delete body.strategy;
      await streamAnswer(view, body, running.signal);
    }
  } finally {
    running = null;
    submit.disabled = false;
    stop.hidden = true;
  }
}

form.addEventListener("submit", compare);
stop.addEventListener("click", () => running && running.abort());
$("#question").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
});

warnIfNotReady($("#readiness"));

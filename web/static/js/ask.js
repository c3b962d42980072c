// /ask: one question, streamed: sources first, then the answer with live citation markers.

import { $, config, warnIfNotReady } from "./common.js";
import { queryBody, streamAnswer } from "./answer.js";

const form = $("#ask-form");
const modeSelect = $("select[name=mode]", form);
const strategyField = $(".strategy-field", form);
const stop = $("#stop");
const submit = $("#submit");
let running = null;

function syncStrategy() {
  const mode = config.modes.find((m) => m.name === modeSelect.value);
  strategyField.hidden = !(mode && mode.strategies.length);
}

const view = {
  answer: $("#answer"),
  sources: $("#sources"),
  trace: $("#trace"),
  timings: $("#timings"),
  thinking: $("#thinking"),
  error: $("#ask-error"),
  graphRow: $("#graph-link-row"),
  graphLink: $("#graph-link"),
};

async function ask(event) {
  event.preventDefault();
  const body = queryBody(form);
  if (!body.question || running) return;
  const params = new URLSearchParams(location.search);
  params.set("q", body.question);
  params.set("mode", body.mode);
  history.replaceState(null, "", "?" + params);
  running = new AbortController();
  submit.disabled = true;
  stop.hidden = false;
  $("#result").hidden = false;
  try {
    await streamAnswer(view, body, running.signal);
  } finally {
    running = null;
    submit.disabled = false;
    stop.hidden = true;
  }
}

// a shared link (?q=…&mode=…) fills the form; it does not ask on its own
const params = new URLSearchParams(location.search);
if (params.get("q")) $("#question").value = params.get("q");
if (params.get("mode") && config.modes.some((m) => m.name === params.get("mode"))) modeSelect.value = params.get("mode");

modeSelect.addEventListener("change", syncStrategy);
form.addEventListener("submit", ask);
stop.addEventListener("click", () => running && running.abort());
$("#question").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
});
syncStrategy();

warnIfNotReady($("#readiness"));

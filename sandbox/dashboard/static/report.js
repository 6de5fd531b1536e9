// The dashboard's contract report: what the client's calls in the chosen session exercised of the
// contract, and where they broke it (GET /_sandbox/report); behind a proxy, where the upstream's
// answers did too. Uses common.js's helpers and the page's `state` and `control`; text only.
"use strict";
const REPORT_SHOWN = 20;  // entries of each group: a client breaking the contract in a loop can make thousands
let reportSeq = null;     // the journal's newest entry when the report was last read

function reportLine(e) {
  const item = el("li", { class: "refused", "data-seq": e.seq },
    el("span", { class: "line" }, `${e.side === "upstream" ? `upstream answer (${e.kind}) ` : ""}` +
      `#${e.seq} ${e.method} ${e.path} → ${e.status} ${e.code || ""}: ${e.error || ""}`));
  if (e.problems && e.problems.length) {
    item.append(el("ul", { class: "problems" }, ...e.problems.map((p) => el("li", {}, `${p.location}: ${p.message}`))));
  }
  return item;
}

function reportGroup(id, group, none) {
  const items = group.entries.map(reportLine);
  if (group.kept > group.entries.length) items.unshift(el("li", { class: "none" }, `the newest ${group.entries.length} of ${group.kept} kept:`));
  if (group.not_kept) items.push(el("li", {}, `${group.not_kept} more counted, not kept: past the journal's bound`));
  if (!items.length) items.push(el("li", { class: "none" }, none));
  $(id).replaceChildren(...items);
}

async function loadReport() {
  if (state.paused) return;
  const generation = state.generation;
  const seq = state.journalSeq;
  const found = (await control("GET", `/report?limit=${REPORT_SHOWN}`)).payload;
  if (generation !== state.generation) return;
  reportSeq = seq;
  const { coverage, violations, refusals, journal } = found;
  $("report-summary").textContent = `${found.requests} request(s) of the client; ${violations.count} violation(s); ` +
    `${refusals.count} state-rule refusal(s); coverage ${coverage.exercised} of ${coverage.declared} ` +
    `operation × status pairs (${coverage.percent}%)`;
  $("report-dropped").textContent = journal.dropped
    ? `The journal dropped ${journal.dropped} of ${journal.recorded} entries past its bound; every count includes them.` : "";
  reportGroup("report-violations", violations, "none: every request was one the contract allows");
  reportGroup("report-refusals", refusals, "none");
  $("report-coverage").tBodies[0].replaceChildren(...coverage.operations.map((o) => {
    const met = o.statuses.filter((s) => s.count).map((s) => `${s.status}×${s.count}${s.declared ? "" : " (undeclared)"}`);
    const untested = o.statuses.filter((s) => s.declared && !s.count).map((s) => s.status);
    return el("tr", { "data-operation": o.operation, class: o.requests ? "" : "never", title: `${o.method} ${o.path}` },
      el("th", { scope: "row" }, o.operation), el("td", {}, met.join("  ") || "never called"),
      el("td", { class: "untested" }, untested.join(" ")));
  }));
}

// Polled: read again only when the journal has something new.
function refreshReport() {
  return state.journalSeq === reportSeq ? Promise.resolve() : loadReport();
}

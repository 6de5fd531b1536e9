// The dashboard's journal (filters, numbered by seq, bodies folded) and fault rules (every field, how
// often each fired). Uses app.js's `state`, `control` and `guard`, and common.js's helpers; text only.
"use strict";

// -- journal --
async function loadJournal(rebuild = false) {
  if (state.paused) return;
  const generation = state.generation;
  // operation, status and violations filter on the control plane; the text, here, over what is shown
  const query = new URLSearchParams({ limit: "100" });
  if ($("journal-operation").value) query.set("operation", $("journal-operation").value);
  if ($("journal-status").value) query.set("status", $("journal-status").value);
  if ($("journal-violations").checked) query.set("violations", "true");
  const entries = (await control("GET", `/journal?${query}`)).payload;
  const text = $("journal-text").value.trim().toLowerCase();
  if (generation !== state.generation) return;
  const list = $("journal");
  if (rebuild || !entries.length || entries[entries.length - 1].seq < state.journalSeq) {
    list.replaceChildren();  // a new session, a cleared journal, or the filter changed
    state.journalSeq = -1;
  }
  const hide = $("hide-own").checked;
  const fresh = entries.filter((e) => e.seq > state.journalSeq);
  if (entries.length) state.journalSeq = Math.max(state.journalSeq, entries[entries.length - 1].seq);
  // Newest first; entries already shown stay as they are (an opened body stays open).
  const wanted = (e) => !(hide && e.request.headers["x-sandbox-client"] === CLIENT)
    && (!text || JSON.stringify([e.method, e.path, e.code, e.request.body, e.response.body]).toLowerCase().includes(text));
  for (const e of fresh.filter(wanted)) {
    // numbered by the journal's own seq: the dashboard's hidden calls leave gaps, not a false count
    const item = el("li", { class: e.status >= 400 ? "refused" : "", "data-seq": e.seq, value: e.seq },
      el("span", { class: "line" }, `${e.time} ${e.method} ${e.path} → ${e.status} ${e.operation || ""}`));
    if (e.code === "injected_fault") item.prepend(el("span", { class: "badge" }, "injected fault"), " ");
    if (e.problems && e.problems.length) {
      item.append(el("ul", { class: "problems" }, ...e.problems.map((p) => el("li", {}, `${p.location}: ${p.message}`))));
    }
    item.append(el("details", {}, el("summary", {}, `bodies of #${e.seq}`),
      el("pre", {}, `request headers (credentials masked): ${JSON.stringify(e.request.headers, null, 2)}\n` +
        `request: ${JSON.stringify(e.request.body, null, 2)}\nresponse: ${JSON.stringify(e.response.body, null, 2)}`)));
    list.prepend(item);
  }
  while (list.children.length > 200) list.lastElementChild.remove();
}

// -- faults --
async function loadFaults() {
  const rules = (await control("GET", "/faults")).payload;
  // every field a rule has, and how often it fired: a spent rule is gone from the list
  $("faults").replaceChildren(...rules.map((r) => el("li", { "data-fault": r.id },
    `${r.id}: ${r.operation}${r.task_id ? ` on ${r.task_id}` : ""} → ${r.status || "latency only"}` +
    `${r.latency_ms ? `, +${r.latency_ms} ms` : ""}, ${r.times === null ? "every time" : `${r.times} more time(s)`}` +
    `${r.probability < 1 ? `, probability ${r.probability}` : ""}; fired ${r.fired} time(s) `,
    el("button", { type: "button", "aria-label": `Remove fault ${r.id}`, onclick: guard(async () => {
      await control("DELETE", `/faults/${encodeURIComponent(r.id)}`); await loadFaults();
    }) }, "Remove"))));
}

async function loadOperations() {
  const spec = await (await fetch("/openapi.json")).json();
  const ids = [];
  for (const item of Object.values(spec.paths)) {
    for (const operation of Object.values(item)) if (operation && operation.operationId) ids.push(operation.operationId);
  }
  fill($("fault-operation"), ids.sort().map((id) => [id, id]), "getTask");
  fill($("journal-operation"), [["", "any"], ...ids.map((id) => [id, id])], "");
}

// The proxy's page: its sessions' exchanges with both verdicts, and the contract report (report.js).
// Every value is shown with textContent, never parsed as HTML.
"use strict";

const state = {
  session: "default",
  token: sessionStorage.getItem("sandbox.token") || "",
  journalSeq: -1,
  generation: 0,
  paused: false,
};

function say(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function control(method, path) {
  const headers = { "X-Sandbox-Session": state.session, "X-Sandbox-Client": "dashboard" };
  if (state.token) headers["X-Sandbox-Admin-Token"] = state.token;
  const answer = await fetch(`/_sandbox${path}`, { method, headers });
  const data = await answer.json().catch(() => null);
  if (!answer.ok) throw new Error(`${method} /_sandbox${path}: ${(data && data.error) || `HTTP ${answer.status}`}`);
  return data;
}

function verdicts(e) {
  const found = (e.verdicts || {});
  const client = found.client ? `client: ${found.client.code}` : "client: kept the contract";
  const upstream = found.upstream === null || found.upstream === undefined ? "upstream: not reached"
    : found.upstream.length ? `upstream: ${found.upstream.map((p) => p.kind).join(", ")}` : "upstream: kept the contract";
  return `${client}; ${upstream}`;
}

async function loadJournal() {
  const generation = state.generation;
  const entries = (await control("GET", "/journal?limit=100")).payload;
  if (generation !== state.generation) return;
  const list = $("journal");
  if (!entries.length || entries[entries.length - 1].seq < state.journalSeq) {
    list.replaceChildren();
    state.journalSeq = -1;
  }
  for (const e of entries.filter((e) => e.seq > state.journalSeq)) {
    const broke = e.verdicts && (e.verdicts.client || (e.verdicts.upstream || []).length);
    const problems = [...(e.problems || []), ...((e.verdicts || {}).upstream || [])];
    const item = el("li", { class: broke ? "refused" : "", "data-seq": e.seq, value: e.seq },
      el("span", { class: "line" }, `#${e.seq} ${e.time} ${e.method} ${e.path} → ${e.status} (${verdicts(e)})`));
    if (problems.length) item.append(el("ul", { class: "problems" }, ...problems.map((p) => el("li", {}, `${p.location}: ${p.message}`))));
    item.append(el("details", {}, el("summary", {}, `bodies of #${e.seq}`),
      el("pre", {}, `request: ${JSON.stringify(e.request.body, null, 2)}\nresponse: ${JSON.stringify(e.response.body, null, 2)}`)));
    list.prepend(item);
  }
  if (entries.length) state.journalSeq = Math.max(state.journalSeq, entries[entries.length - 1].seq);
  while (list.children.length > 200) list.lastElementChild.remove();
}

async function loadSessions() {
  const names = (await control("GET", "/sessions")).payload;
  if (!names.includes(state.session)) names.push(state.session);
  $("session").replaceChildren(...names.map((n) => {
    const option = el("option", { value: n }, n);
    if (n === state.session) option.selected = true;
    return option;
  }));
}

async function refreshAll() {
  state.generation++;
  state.journalSeq = -1;
  $("journal").replaceChildren();
  try {
    await Promise.all([loadSessions(), loadJournal(), loadReport()]);
    say(`session ${state.session}`);
  } catch (e) {
    say(e.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = state.token;
  $("token").addEventListener("change", () => {
    state.token = $("token").value;
    sessionStorage.setItem("sandbox.token", state.token);
    refreshAll();
  });
  $("session").addEventListener("change", () => { state.session = $("session").value; refreshAll(); });
  $("refresh-report").addEventListener("click", () => loadReport().catch((e) => say(e.message, true)));
  refreshAll();
  setInterval(() => loadJournal().catch(() => {}), 1000);
  setInterval(() => refreshReport().catch(() => {}), 1000);
  setInterval(() => loadSessions().catch(() => {}), 5000);
});

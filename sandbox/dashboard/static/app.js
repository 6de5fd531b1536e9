// The sandbox's dashboard: plain JavaScript over the control plane's and the public API's own
// JSON. Every value from the sandbox is shown with textContent, never parsed as HTML ($ and el
// are common.js's).
"use strict";

const STATUSES = ["PROCESSING", "REVIEWING", "COMPLETED", "FAILED", "DISCARDED", "FILTERED"];
const CLIENT = "dashboard"; // X-Sandbox-Client: the journal marks the dashboard's own calls
const state = {
  session: localStorage.getItem("sandbox.session") || "default",
  key: localStorage.getItem("sandbox.key") || "YOUR_API_KEY",
  project: localStorage.getItem("sandbox.project") || "",
  token: sessionStorage.getItem("sandbox.token") || "",
  world: { teams: [], projects: [], keys: [] },
  tasks: [],
  folders: [],
  selected: null,
  journalSeq: -1,
  generation: 0,   // bumped on every switch of session, key or project: older answers are dropped
  paused: false,   // no polling while the session is being deleted (a poll would make it again)
};
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
if (!NAME.test(state.session)) state.session = "default";

function say(text, error = false) {
  const status = $("status");
  status.textContent = text;
  status.className = error ? "error" : "";
}

function headers(extra = {}, control = false) {
  const found = { "X-Sandbox-Session": state.session, "X-Sandbox-Client": CLIENT, ...extra };
  if (state.key) found.Authorization = `Bearer ${state.key}`;
  // The field holds the admin's token, or a team's API key, which opens that team's own sessions
  // on a hosted sandbox: then the control plane is that team's, whatever key acts on the API.
  if (state.token && control && state.tokenIsKey) found.Authorization = `Bearer ${state.token}`;
  else if (state.token) found["X-Sandbox-Admin-Token"] = state.token;
  return found;
}

async function learnToken() {
  // a team's key opens the control plane by itself; the admin's token does not (it is no key)
  state.tokenIsKey = false;
  if (!state.token) return;
  const probe = await fetch("/_sandbox/sessions", { headers: {
    Authorization: `Bearer ${state.token}`, "X-Sandbox-Client": CLIENT } });
  state.tokenIsKey = probe.ok;
}

async function call(method, url, body) {
  const control = url.startsWith("/_sandbox");
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }, control) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const answer = await fetch(url, init);
  const text = await answer.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  return { status: answer.status, data };
}

async function control(method, path, body) {
  const answer = await call(method, `/_sandbox${path}`, body);
  if (answer.status >= 400) {
    const message = answer.data && answer.data.error ? answer.data.error : `HTTP ${answer.status}`;
    throw new Error(`${method} /_sandbox${path}: ${message}`);
  }
  return answer.data;
}

function project() {
  return state.world.projects.find((p) => p.id === state.project) || state.world.projects[0];
}

function base() {
  const p = project();
  return p ? `/v2/${p.team_id}/project/${p.id}` : "";
}

function fill(select, options, chosen) {
  select.replaceChildren(...options.map(([value, label]) => {
    const option = el("option", { value }, label);
    if (value === chosen) option.selected = true;
    return option;
  }));
}

// -- session, key and project --
async function loadSessions() {
  let names = [];
  try {
    // name@team is another team's own session of a name: reached with that team's key, not by name
    names = (await control("GET", "/sessions")).payload.filter((n) => !n.includes("@"));
  } finally {
    if (!names.includes(state.session)) names.push(state.session); // made on first use
    fill($("session"), names.map((n) => [n, n]), state.session);
  }
  const [scenarios, session] = await Promise.all([control("GET", "/scenarios"), control("GET", "/session")]);
  // the session's own scenario, so a reset keeps it unless another is picked
  fill($("scenario"), scenarios.payload.map((s) => [s.name, s.name]), session.payload.scenario || "default");
}

async function loadWorld() {
  state.world = (await control("GET", "/world")).payload;
  let key = state.world.keys.find((k) => k.key === state.key);
  if (!key && state.world.keys.length) {  // a saved key this session's world does not have
    key = state.world.keys[0];
    state.key = key.key;
  }
  fill($("key"), state.world.keys.map((k) => [k.key, `${k.key} (${k.label || k.team_id})`]), state.key);
  const granted = key ? state.world.projects.filter((p) => key.projects.includes(p.id)) : [];
  if (!granted.some((p) => p.id === state.project)) {
    state.project = (granted[0] || state.world.projects.find((p) => key && p.team_id === key.team_id)
                     || state.world.projects[0] || {}).id || "";
  }
  fill($("project"), state.world.projects.map((p) => [p.id, `${p.id} ${p.name}`]), state.project);
  remember();
}

function remember() {
  localStorage.setItem("sandbox.session", state.session);
  localStorage.setItem("sandbox.key", state.key);
  localStorage.setItem("sandbox.project", state.project);
}

async function useSession(name) {
  if (!NAME.test(name)) throw new Error("a session name is 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit");
  state.session = name;
  unselect();
  remember();
  await refreshAll();
}

function unselect() {
  state.selected = null;
  $("task-detail").hidden = true;
  $("task-json").textContent = "";
  $("action-result").textContent = "";
}

// -- tasks --
async function fetchTasks(filtered = true) {
  const found = [];
  let token = null;
  do {
    const query = new URLSearchParams({ limit: "100" });
    if (token) query.set("token", token);
    const filter = filtered ? $("status-filter").value : "";
    if (filter) query.set("status", filter);
    const answer = await call("GET", `${base()}/task?${query}`);
    if (answer.status !== 200) throw new Error(`listing tasks as ${state.key}: ${(answer.data || {}).error || answer.status}`);
    found.push(...answer.data.payload);
    token = answer.data.more ? answer.data.paginationToken : null;
  } while (token && found.length < 1000);
  return found;
}

async function loadTasks() {
  const generation = state.generation;
  let tasks;
  try {
    tasks = await fetchTasks();
  } catch (e) {
    if (generation !== state.generation) return;
    state.tasks = [];
    $("tasks").tBodies[0].replaceChildren(el("tr", {}, el("td", { colspan: "5", class: "problems" }, e.message)));
    unselect();
    throw e;
  }
  if (generation !== state.generation) return;
  state.tasks = tasks;
  if (state.selected && !tasks.some((t) => t.id === state.selected)) unselect();
  const rows = state.tasks.map((task) => {
    const row = el("tr", { tabindex: "0", "data-task": task.id, "aria-selected": String(task.id === state.selected) },
      el("td", {}, task.id), el("td", {}, task.name),
      el("td", { class: `status-${task.status}` }, task.status), el("td", {}, task.step_type), el("td", {}, task.upload_id));
    if (task.id === state.selected) row.classList.add("selected");
    row.setAttribute("aria-label", `task ${task.id}, ${task.status}; Enter shows it`);
    row.addEventListener("click", guard(() => selectTask(task.id)));
    row.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") guard(() => selectTask(task.id))(e); });
    return row;
  });
  $("tasks").tBodies[0].replaceChildren(...rows);
}

async function selectTask(id) {
  state.selected = id;
  for (const row of $("tasks").tBodies[0].rows) {
    row.classList.toggle("selected", row.dataset.task === id);
    row.setAttribute("aria-selected", String(row.dataset.task === id));
  }
  $("action-result").textContent = "";
  await loadTaskView();  // taskview.js
}

// -- uploads and folders --
async function loadUploads() {
  const generation = state.generation;
  const p = project();
  state.folders = p ? (await control("GET", `/folders?project_id=${encodeURIComponent(p.id)}`)).payload : [];
  const ids = [...new Set(state.tasks.map((t) => t.upload_id))];
  const uploads = [];
  for (const id of ids) {
    const answer = await call("GET", `${base()}/upload/${encodeURIComponent(id)}`);
    if (answer.status === 200) uploads.push(answer.data.payload);
  }
  if (generation !== state.generation) return;
  const name = (id) => (state.folders.find((f) => f.id === id) || { name: id || "none" }).name;
  $("uploads").tBodies[0].replaceChildren(...uploads.map((u) => {
    const select = el("select", { "aria-label": `Move ${u.id} to` },
      ...(u.folder_id ? [] : [el("option", { value: "" }, "(choose a folder)")]),
      ...state.folders.map((f) => el("option", { value: f.id }, `${f.name} (${f.role})`)));
    select.value = u.folder_id || "";
    const move = el("button", { type: "button", "aria-label": `Move ${u.id}`, onclick: guard(() => {
      if (!select.value) throw new Error(`choose a folder for ${u.id} first`);
      return moveUpload(u.id, select.value);
    }) }, "Move");
    return el("tr", { "data-upload": u.id, tabindex: "0", "aria-label": `upload ${u.id}, ${u.status}; Enter shows it` },
      el("td", {}, u.id), el("td", {}, u.name), el("td", { class: `status-${u.status}` }, u.status),
      el("td", {}, name(u.folder_id)), el("td", {}, select, " ", move));
  }));
}

async function moveUpload(id, folder) {
  const answer = await call("POST", `${base()}/upload/${encodeURIComponent(id)}/move/${encodeURIComponent(folder)}`);
  say(answer.status === 200 ? `moved ${id}` : `move: ${answer.status} ${answer.data.error}`, answer.status !== 200);
  await loadUploads();
}

// -- wiring --
async function settled(...loads) {
  // each section loads on its own: one refused (a key without task.read) leaves the others shown
  const failed = (await Promise.allSettled(loads)).filter((r) => r.status === "rejected");
  if (failed.length) throw failed[0].reason;
}

async function refreshState() {
  await settled(loadClock(), loadTasks().then(loadUploads), loadNotifications(), loadTaskView(), refreshTimeline());
}

async function refreshAll() {
  const generation = ++state.generation;
  try {
    await settled(loadSessions(), loadWorld());
    const watched = `${state.session}\n${state.token}`;
    if (state.watched !== watched) {  // the live channel follows the session and credentials shown (live.js)
      state.watched = watched;
      startLive();
    }
    await settled(refreshState(), loadFaults(), loadJournal(true), loadReport());
    if (generation === state.generation) say(`session ${state.session}, as ${state.key} on ${state.project}`);
  } catch (e) {
    if (generation === state.generation) say(e.message, true);
  }
}

function guard(fn) {
  return async (event) => {
    if (event && event.preventDefault) event.preventDefault();
    try { await fn(event); } catch (e) { say(e.message, true); }
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) { state.token = hash.get("token"); sessionStorage.setItem("sandbox.token", state.token); history.replaceState(null, "", location.pathname); }
  $("token").value = state.token;
  $("subscription-url").placeholder = `${location.origin}/_sandbox/inbox/mine`;  // where this page is served
  $("session-form").addEventListener("submit", guard(() => {
    const name = $("new-session").value.trim();
    if (!name) throw new Error("type a session name first");
    $("new-session").value = "";
    return useSession(name);
  }));
  $("session").addEventListener("change", guard(() => useSession($("session").value)));
  $("reset-session").addEventListener("click", guard(async () => {
    await control("POST", "/reset", { scenario: $("scenario").value });
    await refreshAll();
  }));
  $("delete-session").addEventListener("click", guard(async () => {
    if (!confirm(`Delete the session ${state.session}? Its changes, journal and report go with it.`)) return;
    state.paused = true;
    await stopLive();
    try { await control("DELETE", "/session"); } finally { state.paused = false; }
    await useSession("default");
  }));
  $("key").addEventListener("change", guard(() => { state.key = $("key").value; unselect(); remember(); return refreshAll(); }));
  $("project").addEventListener("change", guard(() => {
    state.project = $("project").value; state.generation++; unselect(); remember(); return refreshState();
  }));
  const useToken = guard(async () => {
    state.token = $("token").value;
    sessionStorage.setItem("sandbox.token", state.token);
    await learnToken();
    return refreshAll();
  });
  $("token").addEventListener("change", useToken);
  $("as-form").addEventListener("submit", useToken);
  $("status-filter").addEventListener("change", guard(loadTasks));
  $("refresh-tasks").addEventListener("click", guard(refreshState));
  $("force").addEventListener("click", guard(async () => {
    if (!state.selected) throw new Error("pick a task first");
    await control("PUT", `/tasks/${encodeURIComponent(state.selected)}/status`, { status: $("force-status").value });
    $("action-result").textContent = `forced ${$("force-status").value}`;
    await refreshState();
  }));
  $("freeze").addEventListener("click", guard(() => moveClock({ freeze: true })));
  $("unfreeze").addEventListener("click", guard(() => moveClock({ freeze: false })));
  $("advance").addEventListener("click", guard(() => moveClock({ advance_seconds: Number($("step").value) })));
  $("hide-own").addEventListener("change", guard(() => loadJournal(true)));
  for (const id of ["journal-operation", "journal-status", "journal-violations", "journal-text"]) {
    $(id).addEventListener(id === "journal-text" ? "input" : "change", guard(() => loadJournal(true)));
  }
  $("journal-filters").addEventListener("submit", guard(() => loadJournal(true)));
  $("clear-journal").addEventListener("click", guard(async () => {
    await control("DELETE", "/journal"); await settled(loadJournal(true), loadReport());
  }));
  $("refresh-report").addEventListener("click", guard(loadReport));
  $("fault-form").addEventListener("submit", guard(async () => {
    const rule = { operation: $("fault-operation").value };
    if ($("fault-status").value) rule.status = Number($("fault-status").value);
    if ($("fault-times").value) rule.times = Number($("fault-times").value);
    if ($("fault-latency").value) rule.latency_ms = Number($("fault-latency").value);
    if ($("fault-task").value.trim()) rule.task_id = $("fault-task").value.trim();
    if ($("fault-probability").value) rule.probability = Number($("fault-probability").value);
    await control("POST", "/faults", rule);
    await loadFaults();
  }));
  $("event-form").addEventListener("submit", guard(async () => {
    await control("POST", "/events", { upload_id: $("event-upload").value.trim(), type: $("event-type").value });
    await loadNotifications();
  }));
  $("subscription-form").addEventListener("submit", guard(async () => {
    const made = (await control("POST", "/subscriptions", { project_id: project().id, url: $("subscription-url").value })).payload;
    $("new-secret").textContent = `${made.id}: signing secret ${made.secret} (shown this once)`;
    await loadNotifications();
  }));
  loadOperations().catch((e) => say(e.message, true));
  learnToken().catch(() => {}).then(refreshAll);
  setInterval(tickClock, 1000);  // the running clock ticks here; what falls due comes over the live channel
});

// The clock card: the session's time (ticking while it runs), frozen or running, when the session
// started, the next transition due (what, on which task or upload, when, and in how long, counting
// down), freeze, unfreeze, advance, and what fell due at the last move. Text only (common.js's el).
"use strict";

const DUE_WHAT = {
  read: (id) => `task ${id} settles at its step (read)`,
  advance: (id) => `task ${id} moves on from its step (advance)`,
  export: (id) => `upload ${id} is exported (export)`,
};
let dueShown = null;  // {left: seconds from the answer's now, read: this page's time then, frozen}

function inWords(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const parts = [[Math.floor(s / 86400), "d"], [Math.floor(s / 3600) % 24, "h"], [Math.floor(s / 60) % 60, "min"], [s % 60, "s"]];
  const shown = parts.filter(([n]) => n).slice(0, 2).map(([n, unit]) => `${n} ${unit}`);
  return shown.length ? shown.join(" ") : "0 s";
}

function showClockDetails(clock) {
  $("clock-started").textContent = clock.started_at || "";
  const next = clock.next_due;
  dueShown = next ? { left: next.in_seconds, read: Date.now(), frozen: clock.frozen } : null;
  if (!next) {
    $("clock-next").replaceChildren(el("span", { class: "none" }, "nothing pending: no task is PROCESSING, no upload waits for its export"));
    return;
  }
  const what = (DUE_WHAT[next.kind] || ((id) => `${next.kind} of ${id}`))(next.target);
  $("clock-next").replaceChildren(
    el("span", { id: "clock-next-what", "data-kind": next.kind, "data-target": next.target }, what),
    " at ", el("time", { id: "clock-next-at", datetime: next.at }, next.at), ", ",
    el("span", { id: "clock-next-in" }, ""));
  tickClockDetails();
}

function tickClockDetails() {
  if (!dueShown || !$("clock-next-in")) return;
  const left = dueShown.frozen ? dueShown.left : dueShown.left - (Date.now() - dueShown.read) / 1000;
  $("clock-next-in").textContent = left <= 0 ? "due now: it applies at the next call"
    : `in ${inWords(left)}${dueShown.frozen ? " of the session's time (frozen: advance to reach it)" : ""}`;
}

// -- clock --
let clockShown = null;  // {at: the session's time when read, read: this page's time then, frozen}

async function loadClock() {
  const clock = (await control("GET", "/clock")).payload;
  clockShown = { at: Date.parse(clock.now), read: Date.now(), frozen: clock.frozen };
  $("clock-now").textContent = clock.now;
  $("clock-frozen").textContent = clock.frozen ? "(frozen)" : "(running)";
  showClockDetails(clock);  // clock.js: when it started, what falls due next
}

function tickClock() {
  // a running clock moves as real time does: shown ticking, without asking the sandbox each second
  if (!clockShown || clockShown.frozen || Number.isNaN(clockShown.at)) return;
  const now = new Date(clockShown.at + Date.now() - clockShown.read);
  $("clock-now").textContent = now.toISOString().replace(/\.\d{3}Z$/, "Z");
  tickClockDetails();
}

async function moveClock(body) {
  // what fell due is read from the whole project, whatever the table's filter shows
  const before = new Map((await fetchTasks(false)).map((t) => [t.id, t.status]));
  const events = (await control("GET", "/events")).count;
  await control("POST", "/clock", body);
  await refreshState();
  const changed = (await fetchTasks(false)).filter((t) => before.has(t.id) && before.get(t.id) !== t.status);
  const fired = (await control("GET", "/events")).payload.slice(events);
  $("fell-due").replaceChildren(
    ...changed.map((t) => el("li", {}, `${t.id}: ${before.get(t.id)} → ${t.status}`)),
    ...fired.map((e) => el("li", {}, `${e.type} for ${e.upload_id}`)));
  if (!changed.length && !fired.length) $("fell-due").replaceChildren(el("li", {}, "nothing fell due"));
}

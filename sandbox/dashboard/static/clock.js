// The clock card's details: when the session started and the next transition due (what, on which
// task or upload, when, and in how long: counting down while the clock runs). app.js's loadClock
// hands it each GET /_sandbox/clock answer, its tickClock each second; text only (common.js's el).
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

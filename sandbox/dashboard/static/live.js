// The dashboard's live channel: GET /_sandbox/live, read with fetch (EventSource cannot send the
// session and credential headers), so every section shows a change made anywhere without a click.
// Uses app.js's `state`, `headers` and its loaders.
"use strict";

const live = { controller: null, retry: 1000, pending: new Set(), running: false };

function showLive(text, ok) {
  const mark = $("live");
  if (!mark) return;
  mark.textContent = text;
  mark.className = ok ? "live-on" : "live-off";
}

// What each kind of change touches: the session's state (tasks, uploads, clock, notifications, faults),
// the journal (and the report and fault counts read from it), or a transition that fell due.
async function refreshFor(kinds) {
  const loads = [];
  if (kinds.has("state") || kinds.has("clock") || kinds.has("hello")) loads.push(refreshState(), loadFaults());
  if (kinds.has("journal") || kinds.has("hello")) {
    loads.push(loadJournal().then(refreshReport));
    if (!kinds.has("state")) loads.push(loadFaults());  // a call may have fired a rule
  }
  await settled(...loads);
}

// One refresh at a time: changes that come meanwhile are gathered into the next one.
function changed(kinds) {
  for (const kind of kinds) live.pending.add(kind);
  if (live.running) return;
  live.running = true;
  (async () => {
    while (live.pending.size) {
      const kinds = new Set(live.pending);
      live.pending.clear();
      if (state.paused) continue;
      try { await refreshFor(kinds); } catch (e) { /* each section says its own problem when next asked */ }
    }
    live.running = false;
  })();
}

function handle(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trim());
    else if (line.startsWith("retry:")) live.retry = Number(line.slice(6)) || live.retry;
  }
  if (name === "hello") changed(["hello"]);  // (re)connected: whatever changed before is read again
  else if (name === "change") changed(JSON.parse(data.join("\n")).kinds);
}

async function listen(controller) {
  while (!controller.signal.aborted) {
    try {
      const answer = await fetch("/_sandbox/live", { headers: headers({}, true), signal: controller.signal, cache: "no-store" });
      if (!answer.ok) throw new Error(`live channel: HTTP ${answer.status}`);
      showLive("live", true);
      const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          handle(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (e) {
      if (controller.signal.aborted) return;
    }
    showLive("reconnecting…", false);
    await new Promise((resolve) => setTimeout(resolve, live.retry));
  }
}

// (Re)opens the channel for the session and credentials the page uses now.
function startLive() {
  if (live.controller) live.controller.abort();
  live.controller = new AbortController();
  listen(live.controller);
}

// Before the session is deleted: no stream and no read may be left to make it again.
async function stopLive() {
  if (live.controller) live.controller.abort();
  live.controller = null;
  state.watched = null;
  while (live.running) await new Promise((resolve) => setTimeout(resolve, 20));
}

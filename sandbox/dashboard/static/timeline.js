// The dashboard's timeline (GET /_sandbox/timeline: what changed in the session and why, newest
// first, filtered by task, upload and kind) and its upload view (an upload's fields, folder, tasks
// and status history), refreshed from app.js's refreshState(). Uses app.js's state, call, control,
// base and guard, and common.js's $ and el: every value is shown as text.
"use strict";

const timelineView = { upload: null };  // the upload the upload view shows, if any

function folderName(id) {
  if (id === null || id === undefined) return "no folder";
  const folder = state.folders.find((f) => f.id === id);
  return folder ? `${folder.name} (${id})` : id;
}

function causeWords(cause) {
  switch (cause.by) {
    case "api": return `by the API call ${cause.operation}`;
    case "clock": return "by the clock: it fell due";
    case "forced": return "forced on the control plane";
    case "control": return `by the control action ${cause.operation}`;
    default: return `by ${cause.by}`;
  }
}

function stateWords(entry, side) {
  const value = entry[side];
  if (value === null) return "(new)";
  if (entry.kind === "task") return `${value.status} at ${value.step_type}`;
  return `${value.status} in ${folderName(value.folder_id)}`;
}

function detailWords(details) {
  return Object.entries(details || {})
    .map(([name, value]) => `${name} ${typeof value === "object" ? JSON.stringify(value) : value}`).join(", ");
}

function timelineItem(entry) {
  const subject = entry.kind === "control" ? entry.operation
    : entry.kind === "task" ? `task ${entry.task_id}` : `upload ${entry.upload_id}`;
  const what = entry.kind === "control" ? detailWords(entry.details)
    : `${stateWords(entry, "from")} → ${stateWords(entry, "to")}`;
  return el("li", { value: entry.seq, "data-seq": entry.seq, class: `timeline-${entry.kind}` },
    el("time", { datetime: entry.at }, entry.at), " ", el("strong", {}, subject), ": ", what, " ",
    el("span", { class: "cause" }, `(${causeWords(entry.cause)})`));
}

async function fetchTimeline(filters) {
  const query = new URLSearchParams({ limit: "100" });
  for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
  return (await control("GET", `/timeline?${query}`)).payload;
}

async function loadTimeline() {
  const generation = state.generation;
  const found = await fetchTimeline({
    task_id: $("timeline-task").value.trim(), upload_id: $("timeline-upload").value.trim(), kind: $("timeline-kind").value,
  });
  if (generation !== state.generation) return;
  $("timeline").replaceChildren(...found.map(timelineItem));
  if (!found.length) $("timeline").replaceChildren(el("li", { class: "none" }, "nothing changed yet"));
}

// -- the upload view --
async function showUpload(id, refresh = false) {
  const generation = state.generation;
  const [upload, tasks, history] = await Promise.all([
    call("GET", `${base()}/upload/${encodeURIComponent(id)}`),
    call("GET", `${base()}/task?${new URLSearchParams({ upload_id: id, limit: "100" })}`),
    fetchTimeline({ upload_id: id }),
  ]);
  if (generation !== state.generation) return;
  if (refresh && timelineView.upload !== id) return;  // closed (or another opened) while this refresh read
  if (upload.status !== 200) {  // gone with a reset, or not in this session or project
    closeUpload();
    return;
  }
  const u = upload.data.payload;
  timelineView.upload = id;
  $("upload-id").textContent = id;
  const field = (name, value) => [el("dt", {}, name), el("dd", {}, value)];
  $("upload-fields").replaceChildren(
    ...field("name", u.name), ...field("status", u.status), ...field("folder", folderName(u.folder_id)),
    ...field("created at", u.created_at), ...field("files", JSON.stringify(u.files)), ...field("meta", JSON.stringify(u.meta)));
  const rows = tasks.status === 200 ? tasks.data.payload : [];
  $("upload-tasks").tBodies[0].replaceChildren(...rows.map((t) => el("tr", { "data-task": t.id },
    el("td", {}, t.id), el("td", {}, t.name), el("td", { class: `status-${t.status}` }, t.status), el("td", {}, t.step_type))));
  $("upload-history").replaceChildren(...history.map(timelineItem));
  if (!history.length) $("upload-history").replaceChildren(el("li", { class: "none" }, "no change yet in this session"));
  $("upload-detail").hidden = false;
  for (const row of $("uploads").tBodies[0].rows) row.setAttribute("aria-selected", String(row.dataset.upload === id));
}

function closeUpload() {
  timelineView.upload = null;
  $("upload-detail").hidden = true;
}

async function refreshTimeline() {
  await Promise.all([loadTimeline(), timelineView.upload ? showUpload(timelineView.upload, true) : null]);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const id of ["timeline-task", "timeline-upload", "timeline-kind"]) $(id).addEventListener("change", guard(loadTimeline));
  $("timeline-filters").addEventListener("submit", guard(loadTimeline));
  $("upload-close").addEventListener("click", closeUpload);
  const chosen = (event) => {
    // the row's own controls (its folder picker, Move) do what they say, not open the view
    const row = event.target.closest("tr[data-upload]");
    return row && !event.target.closest("select, button") ? row.dataset.upload : null;
  };
  $("uploads").addEventListener("click", (event) => {
    const id = chosen(event);
    if (id) guard(() => showUpload(id))(event);
  });
  $("uploads").addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      const id = chosen(event);
      if (id) guard(() => showUpload(id))(event);
    }
  });
});

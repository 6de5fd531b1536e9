// The dashboard's task view: the chosen task's fields, its pages drawn to scale with every
// annotation, checkbox, segment and signature as a labelled shape, and the task actions the key's
// scopes allow, each showing the API's answer. Uses app.js's `state`, `call`, `base`, `guard` and
// `refreshState`, and common.js's helpers; every value from the sandbox is set as text.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const SHAPES = [  // kind, the page's field holding them, the legend's words
  ["segment", "segments", "segment: a region of the page"],
  ["signature", "signatures", "signature: where a signature was found"],
  ["checkbox", "checkboxes", "checkbox: filled when checked"],
  ["annotation", "annotations", "annotation: an extracted entity at its line, with its content"],
];
const view = {
  context: null,        // session, key, project and task shown: a change of any forgets the rest
  pages: null,          // the pages' JSON last drawn: drawn again only when it changes
  offered: null,        // the actions last offered: rebuilt only when they change (focus and typing stay)
  answers: new Map(),   // action → the API's last answer to it, shown again after a refresh
  folded: new Set(),    // ids of the pages the user folded
};
let taskActions = null;  // a promise of the task actions the contract declares

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

// Every POST under /task/{task_id}/ in the contract, with the scopes it needs: read from the
// contract itself, so an action or scope added there is offered (or withheld) here too.
function loadTaskActions() {
  taskActions = taskActions || fetch("/openapi.json").then((answer) => {
    if (!answer.ok) throw new Error(`GET /openapi.json: ${answer.status}`);
    return answer.json();
  }).then((spec) => Object.entries(spec.paths).flatMap(([path, item]) => {
    const name = (path.match(/\/task\/\{task_id\}\/([a-z_]+)$/) || [])[1];
    const post = item.post;
    return name && post ? [{ name, operation: post.operationId, summary: post.summary || "",
      scopes: post["x-required-scopes"] || [], body: Boolean(post.requestBody) }] : [];
  })).catch((e) => { taskActions = null; throw e; });
  return taskActions;
}

async function loadTaskView() {
  const id = state.selected;
  if (!id) return;
  const generation = state.generation;
  const [answer, actions] = await Promise.all([
    call("GET", `${base()}/task/${encodeURIComponent(id)}`), loadTaskActions()]);
  if (generation !== state.generation || state.selected !== id) return;  // another task or key since
  const context = [state.session, state.key, base(), id].join(" ");
  if (context !== view.context) {
    Object.assign(view, { context, pages: null, offered: null });
    view.answers.clear();
    view.folded.clear();
  }
  const task = answer.status === 200 && answer.data ? answer.data.payload : null;
  $("task-detail").hidden = false;
  $("task-id").textContent = id;
  $("task-json").textContent = JSON.stringify(answer.data, null, 2);
  if (task) $("force-status").value = task.status;
  drawFields(task, answer);
  drawActions(id, actions);
  drawPages(task ? task.pages || [] : []);
}

// -- fields --
function fieldValue(name, value) {
  if (value === null) return el("span", { class: "none" }, "null");
  if (name === "meta") return value.length ? value.map((m) => `${m.name} = ${m.value}`).join("; ") : "none";
  if (name === "pages") return `${value.length} page(s), drawn below`;
  if (name === "status") return el("span", { class: `status-${value}` }, value);
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function drawFields(task, answer) {
  if (!task) {  // the key may not read it, or it is gone: the API's own answer says which
    const data = answer.data || {};
    $("task-fields").replaceChildren(el("dt", {}, "GET"),
      el("dd", { class: "problems" }, `${answer.status} ${data.code || ""}: ${data.error || ""}`));
    return;
  }
  $("task-fields").replaceChildren(...Object.entries(task).flatMap(([name, value]) =>
    [el("dt", {}, name), el("dd", { "data-field": name }, fieldValue(name, value))]));
}

// -- actions --
function keyScopes() {
  const key = state.world.keys.find((k) => k.key === state.key);
  return key ? key.scopes : [];
}

function drawActions(id, actions) {
  const scopes = keyScopes();
  const offered = actions.filter((a) => a.scopes.every((s) => scopes.includes(s)));
  const withheld = actions.filter((a) => !offered.includes(a));
  const signature = JSON.stringify([id, state.key, scopes, offered.map((a) => a.name)]);
  if (signature === view.offered) return;
  view.offered = signature;
  $("task-actions").replaceChildren(...offered.map((a) => actionItem(id, a)));
  const missing = [...new Set(withheld.flatMap((a) => a.scopes.filter((s) => !scopes.includes(s))))];
  $("task-withheld").textContent = withheld.length
    ? `Not offered: ${withheld.map((a) => a.name).join(", ")}; ${state.key} lacks ${missing.join(", ")}.` : "";
}

function actionItem(id, action) {
  const answer = el("div", { class: "answer", role: "status", "data-answer": action.name });
  const needs = action.scopes.join(", ") || "no scope";
  const button = el("button", { type: "button", title: `${action.summary} (${action.operation}, needs ${needs})` },
    action.name[0].toUpperCase() + action.name.slice(1));
  const fields = action.name === "report" ? reportFields() : null;
  button.addEventListener("click", guard(() => runAction(id, action, answer, fields)));
  if (view.answers.has(action.name)) showAnswer(answer, view.answers.get(action.name));
  return el("li", { "data-action": action.name }, button, ...(fields ? [" ", fields.group] : []), answer);
}

function reportFields() {
  // the contract's own example of a report, ready to send or edit
  const input = (id, label, value) => [el("label", { for: id }, label), el("input", { id, value })];
  const [labelLabel, label] = input("report-label", "issue label", "Poor Document Quality");
  const [valueLabel, value] = input("report-value", "value", "poor_quality");
  const [messageLabel, message] = input("report-message", "message", "The document is blurry.");
  return { group: el("span", { class: "report-fields" }, labelLabel, label, valueLabel, value, messageLabel, message),
    body: () => ({ issues: [{ label: label.value, value: value.value }], ...(message.value ? { message: message.value } : {}) }) };
}

async function runAction(id, action, shown, fields) {
  const body = fields ? fields.body() : undefined;
  shown.replaceChildren(`${action.name}: waiting for the API…`);
  const answer = await call("POST", `${base()}/task/${encodeURIComponent(id)}/${action.name}`, body);
  if (state.selected !== id) return;
  view.answers.set(action.name, answer);
  showAnswer(shown, answer);
  await refreshState();
}

function showAnswer(shown, answer) {
  const data = answer.data && typeof answer.data === "object" ? answer.data : {};
  const ok = answer.status < 300;
  const line = ok
    ? [answer.status, data.message, data.payload && `status ${data.payload.status}`,
       ...(data.errors || []).map((e) => `${e.system}: ${e.error}`)].filter(Boolean).join(" · ")
    : `${answer.status} ${data.code || ""}: ${data.error || answer.data}`;
  shown.className = `answer ${ok ? "" : "refused"}`;
  shown.replaceChildren(el("span", { class: "line" }, line));
  if (data.details && data.details.length) {
    shown.append(el("ul", { class: "problems" }, ...data.details.map((d) => el("li", {}, `${d.location}: ${d.message}`))));
  }
  shown.append(el("details", {}, el("summary", {}, "the answer's body"), el("pre", {}, JSON.stringify(answer.data, null, 2))));
}

// -- pages --
function drawPages(pages) {
  const drawn = JSON.stringify(pages);
  if (drawn === view.pages) return;  // unchanged: what is shown stays, hovered title included
  view.pages = drawn;
  if (!$("task-legend").children.length) $("task-legend").replaceChildren(...SHAPES.map(legendItem));
  $("task-pages").replaceChildren(...(pages.length ? pages.map(drawPage) : [el("p", { class: "none" }, "This task has no pages.")]));
}

function legendItem([kind, , text]) {
  const sample = { segment: [[2, 3], [18, 3], [18, 17], [2, 17]], signature: [[2, 5], [18, 5], [18, 15], [2, 15]],
    checkbox: [[5, 5], [15, 5], [15, 15], [5, 15]] }[kind];
  const mark = sample ? svg("polygon", { points: sample.join(" ") }) : svg("circle", { cx: 10, cy: 10, r: 4 });
  return el("li", {}, svg("svg", { class: "swatch", viewBox: "0 0 20 20", "aria-hidden": "true" },
    svg("g", { class: `shape shape-${kind}${kind === "checkbox" ? " checked" : ""}` }, mark)), ` ${text}`);
}

function drawPage(page) {
  // a page of zero size would make an empty viewBox: it is drawn one unit wide instead
  const width = page.width > 0 ? page.width : 1;
  const height = page.height > 0 ? page.height : 1;
  const unit = Math.max(width, height) / 80;  // labels scale with the page, so they keep their place on it
  const shapes = [  // large regions first, under the small marks they may hold
    ...(page.segments || []).map((s) => region("segment", s, unit, s.id, `segment ${s.id}`)),
    ...(page.signatures || []).map((s) => region("signature", s, unit, s.id, `signature ${s.id}`)),
    ...(page.checkboxes || []).map((c) => region("checkbox", c, unit, c.checked ? "checked" : "unchecked",
      `checkbox ${c.id}, ${c.checked ? "checked" : "unchecked"}`)),
    ...(page.annotations || []).map((a) => annotation(a, unit)),
  ];
  const counts = SHAPES.map(([kind, field]) => `${(page[field] || []).length} ${kind}(s)`).join(", ");
  const drawing = svg("svg", { class: "page", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "xMinYMin meet",
    "data-page": page.id, role: "group", "aria-label": `page ${page.id}, ${page.width} × ${page.height}: ${counts}` },
  svg("rect", { class: "page-outline", x: 0, y: 0, width, height }), ...shapes);
  const folder = el("details", { "data-page": page.id },
    el("summary", {}, `${page.id}: ${page.width} × ${page.height}, ${counts}`), drawing);
  folder.open = !view.folded.has(page.id);
  folder.addEventListener("toggle", () => (folder.open ? view.folded.delete(page.id) : view.folded.add(page.id)));
  return folder;
}

function confidence(shape) {
  return typeof shape.confidence === "number" ? `, confidence ${shape.confidence}` : "";
}

function region(kind, shape, unit, short, label) {
  const corners = shape.coordinates || [];
  const xs = corners.map((p) => p[0]);
  const ys = corners.map((p) => p[1]);
  const look = `shape shape-${kind}${shape.checked ? " checked" : ""}`;
  return svg("g", { class: look, "data-kind": kind, "data-id": shape.id, role: "img" },
    svg("title", {}, `${label}${confidence(shape)}`),
    svg("polygon", { points: corners.map(([x, y]) => `${x},${y}`).join(" ") }),
    // under the shape, where it hides no other shape's own label
    svg("text", { x: Math.min(...xs), y: Math.max(...ys) + unit * 0.3, "font-size": unit, "dominant-baseline": "hanging" }, short));
}

function annotation(a, unit) {
  const content = a.content === "" ? "(empty)" : a.content;
  const short = `${a.entity_id}: ${content.length > 40 ? `${content.slice(0, 39)}…` : content}`;
  return svg("g", { class: "shape shape-annotation", "data-kind": "annotation", "data-id": a.id, role: "img" },
    svg("title", {}, `annotation ${a.id}, ${a.entity_id}: ${content}${confidence(a)}`),
    svg("circle", { cx: a.left_of_line, cy: a.top, r: unit * 0.35 }),
    svg("text", { x: a.left_of_line + unit * 0.6, y: a.top, "font-size": unit, "dominant-baseline": "middle" }, short));
}

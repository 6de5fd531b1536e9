// The dashboard's notifications: subscriptions, events with a form to fire one, deliveries with every
// attempt and a resend. Uses app.js's `state`, `control` and `guard`, and common.js's helpers; text only.
"use strict";

// -- notifications --
async function loadNotifications() {
  const subs = (await control("GET", "/subscriptions")).payload;
  $("subscriptions").replaceChildren(...subs.map((s) => el("li", {},
    `${s.id} ${s.project_id} → ${s.url} [${s.events.join(", ")}] ${s.enabled ? "enabled" : `disabled: ${s.disabled_reason}`} `,
    el("button", { type: "button", "aria-label": `Delete subscription ${s.id}`, onclick: guard(async () => {
      await control("DELETE", `/subscriptions/${encodeURIComponent(s.id)}`); await loadNotifications();
    }) }, "Delete"))));
  const [events, deliveries] = await Promise.all([control("GET", "/events"), control("GET", "/deliveries")]);
  const byId = new Map(events.payload.map((e) => [e.id, e]));
  const urls = new Map(subs.map((s) => [s.id, s.url]));
  $("events").replaceChildren(...events.payload.slice(-50).reverse().map((e) => el("li", { value: e.seq, "data-event": e.id },
    `${e.type} for ${e.upload_id} at ${e.created_at} (${e.id})`)));
  $("deliveries").replaceChildren(...deliveries.payload.map((d) => {
    const event = byId.get(d.event_id);
    const item = el("li", { "data-delivery": d.id },
      `${event ? `${event.type} for ${event.upload_id}` : d.event_id} → ${urls.get(d.subscription_id) || d.subscription_id}: ` +
      `${d.status}${d.next_attempt_at ? `, next attempt at ${d.next_attempt_at}` : ""} `,
      el("button", { type: "button", "aria-label": `Resend ${d.id}`, onclick: guard(async () => {
        await control("POST", `/deliveries/${encodeURIComponent(d.id)}/resend`);
        await loadNotifications();
      }) }, "Resend"));
    // each attempt: when, what the receiver answered (or why none came), and how long it took
    item.append(el("ol", { class: "attempts" }, ...d.attempts.map((a) => el("li", {},
      `${a.at}: ${a.status ?? `no answer (${a.error})`} in ${a.latency_ms} ms`))));
    return item;
  }));
}

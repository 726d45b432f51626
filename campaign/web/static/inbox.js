// Live hotline inbox: asks /inbox/live every few seconds (short polling works the same behind
// several web workers), swaps in the list the server rendered, keeps the counts in the page
// title, and raises a visible and audible alert for every new urgent case, whatever the filters.
// Words come from data attributes the server filled in the page's language.

import { createAlerter } from "/static/alerts.js";

const box = document.getElementById("cases");
const banner = document.getElementById("live-alert");
const state = document.getElementById("live-state");
const baseTitle = document.title;
const alerter = createAlerter(document.getElementById("sound-toggle"));

const every = Number(box.dataset.refreshMs) || 3000;
const seen = new Set(JSON.parse(box.dataset.urgentIds || "[]"));
let version = "";
let since = new Date().toISOString();
let failures = 0;

function fill(template, values) {
  return (template || "").replace(/%\((\w+)\)[sd]/g, (_, name) => String(values[name] ?? ""));
}

function setTitle(open, urgent) {
  const counts = urgent > 0 ? `⚠${urgent} · ${open}` : `${open}`;
  document.title = `(${counts}) ${baseTitle}`;
  box.dataset.open = String(open);
  box.dataset.urgent = String(urgent);
}

function announce(lines, urgentIds) {
  banner.replaceChildren();
  for (const id of urgentIds) {
    const link = document.createElement("a");
    link.href = `/cases/${id}`;
    link.textContent = fill(box.dataset.tNewUrgent, { case: id });
    banner.append(link);
  }
  for (const text of lines) {
    const p = document.createElement("p");
    p.textContent = text;
    banner.append(p);
  }
  banner.hidden = false;
  banner.classList.remove("flash-in");
  void banner.offsetWidth; // restart the animation
  banner.classList.add("flash-in");
}

async function refresh() {
  const url = new URL(box.dataset.liveUrl, window.location.href);
  url.searchParams.set("v", version);
  url.searchParams.set("since", since);
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch {
    failures += 1;
    state.textContent = state.dataset.tOffline;
    state.classList.add("offline");
    return;
  }
  const type = response.headers.get("content-type") || "";
  if (!response.ok || !type.includes("application/json")) {
    state.textContent = response.redirected || response.status === 401 ? state.dataset.tLogin : state.dataset.tOffline;
    state.classList.add("offline");
    return;
  }
  failures = 0;
  state.classList.remove("offline");
  const data = await response.json();
  since = data.now;
  if (data.html !== null && data.html !== undefined) {
    box.innerHTML = data.html; // rendered by the server from the same template, autoescaped
  }
  version = data.version;
  setTitle(data.open, data.urgent);
  const fresh = data.urgent_ids.filter((id) => !seen.has(id));
  fresh.forEach((id) => seen.add(id));
  if (fresh.length || data.notices.length) {
    announce(data.notices, fresh);
    alerter.alert({ urgent: fresh.length > 0 });
  }
}

function loop() {
  refresh().finally(() => {
    const wait = failures ? Math.min(every * 2 ** failures, 30000) : every;
    window.setTimeout(loop, document.hidden ? Math.max(wait, every) : wait);
  });
}

setTitle(Number(box.dataset.open), Number(box.dataset.urgent));
window.setTimeout(loop, every);

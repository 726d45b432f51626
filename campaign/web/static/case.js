// A hotline case page: who is answering it (live), the SMS counter on the reply box, quick replies,
// and activity reports that keep this person's hold on the case while they work on it (an idle
// hold ends by itself after CAMPAIGN_CASE_LOCK_MINUTES). When someone takes the case over, this
// page says so at its next refresh, beeps, and disables reply and resolve.

import { createAlerter } from "/static/alerts.js";
import { attachCounter } from "/static/sms_counter.js";

const lock = document.getElementById("lock");
const thread = document.getElementById("thread");
const every = Number(lock.dataset.refreshMs) || 3000;
const TOUCH_EVERY = 30000;
const alerter = createAlerter(null);
let mine = lock.dataset.mine === "1";
let active = false;
let lastTouch = Date.now();

function setMine(value) {
  if (mine && !value) alerter.alert({ urgent: false });
  mine = value;
  lock.dataset.mine = value ? "1" : "0";
  for (const fieldset of document.querySelectorAll("fieldset.needs-lock")) fieldset.disabled = !value;
}

function apply(data) {
  lock.innerHTML = data.lock_html; // server-rendered, autoescaped, in the page's language
  setMine(Boolean(data.mine));
  if (data.thread_html !== undefined) {
    thread.innerHTML = data.thread_html;
    alerter.alert({ urgent: false });
  }
  lock.dataset.messages = String(data.messages);
}

async function call(url, options = {}) {
  try {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, ...options });
    const type = response.headers.get("content-type") || "";
    if (response.ok && type.includes("application/json")) apply(await response.json());
  } catch {
    // offline for a moment: the next refresh tries again
  }
}

function refresh() {
  const url = new URL(lock.dataset.liveUrl, window.location.href);
  url.searchParams.set("n", lock.dataset.messages);
  return call(url);
}

function touch() {
  active = false;
  lastTouch = Date.now();
  return call(lock.dataset.touchUrl, {
    method: "POST",
    headers: { Accept: "application/json", "X-CSRF-Token": lock.dataset.csrf },
  });
}

function loop() {
  const work = active && Date.now() - lastTouch >= TOUCH_EVERY ? touch() : refresh();
  work.finally(() => window.setTimeout(loop, every));
}

for (const kind of ["input", "keydown", "pointerdown"]) {
  document.addEventListener(kind, () => {
    active = true;
  }, { passive: true });
}

const body = document.getElementById("reply-body");
const output = document.getElementById("sms-counter");
if (body && output) {
  const update = attachCounter(body, output, { policy: output.dataset.policy || "exact" });
  for (const button of document.querySelectorAll("button.quick-reply")) {
    button.addEventListener("click", async () => {
      const text = button.dataset.body || "";
      body.value = body.value.trim() ? `${body.value.trimEnd()}\n${text}` : text;
      (await update)();
      body.focus();
    });
  }
}

window.setTimeout(loop, every);

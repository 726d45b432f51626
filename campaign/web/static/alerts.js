// Audible and tactile alerts for the hotline pages: a short two-tone beep made with Web Audio (no
// sound file, nothing fetched), and a vibration on phones. Browsers only let a page make sound
// after someone touched it, so the first tap or key anywhere unlocks it; the toggle button turns
// sound off and on (remembered in this browser). Every alert is counted on <body data-alerts>
// and every beep on <body data-sounds>, so tests and people can tell what happened.

const KEY = "campaign.inbox.sound";

export function createAlerter(toggle) {
  let context = null;
  let enabled = window.localStorage.getItem(KEY) !== "off";

  function audio() {
    if (!context) {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return null;
      context = new Context();
    }
    if (context.state === "suspended") context.resume().catch(() => {});
    return context;
  }

  function beep(urgent) {
    const ctx = audio();
    if (!ctx || ctx.state !== "running") return false;
    const tones = urgent ? [880, 660, 880] : [660];
    tones.forEach((frequency, i) => {
      const start = ctx.currentTime + i * 0.22;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.4, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.2);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.21);
    });
    return true;
  }

  function show() {
    if (!toggle) return;
    toggle.hidden = false;
    toggle.setAttribute("aria-pressed", enabled ? "true" : "false");
    toggle.textContent = enabled ? toggle.dataset.tOn : toggle.dataset.tOff;
  }

  if (toggle) {
    toggle.addEventListener("click", () => {
      enabled = !enabled;
      window.localStorage.setItem(KEY, enabled ? "on" : "off");
      if (enabled) audio();
      show();
    });
    show();
  }
  const unlock = () => {
    if (enabled) audio();
  };
  document.addEventListener("pointerdown", unlock, { once: true });
  document.addEventListener("keydown", unlock, { once: true });
  if (enabled) audio(); // allowed at once where the browser permits sound without a gesture

  return {
    alert({ urgent = false } = {}) {
      const body = document.body;
      body.dataset.alerts = String(Number(body.dataset.alerts || 0) + 1);
      if (enabled && beep(urgent)) body.dataset.sounds = String(Number(body.dataset.sounds || 0) + 1);
      if (navigator.vibrate) navigator.vibrate(urgent ? [200, 100, 200] : 150);
    },
  };
}

// SMS counter: characters, encoding, segments and the characters forcing UCS-2, computed exactly
// as messages/encoding.py computes them (`campaign messages segments`). The rules come as data
// from /sms/rules.json (messages/client_rules.py, built from the same tables as the Python), so the
// two cannot drift apart; tests/campaign/web/test_inbox_browser.py compares them on the same texts.
//
// Reusable: import { loadRules, measure, attachCounter } from "/static/sms_counter.js".
//   measure(text, policy, rules) -> {encoding, segments, characters, units, non_gsm, text}
//     text is normalized first (NFC, apostrophe variants -> '), as the CLI does unless --raw.
//   attachCounter(textarea, output, {policy}) keeps `output` up to date while typing. The output
//     element carries the words in data attributes (data-t-summary, data-t-forcing, data-t-changed,
//     with %(name)s placeholders), so the page's language is the server's business.

const RULES_URL = "/sms/rules.json";
let cached = null;

export function loadRules(url = RULES_URL) {
  if (!cached) {
    cached = fetch(url, { credentials: "same-origin" })
      .then((r) => {
        if (!r.ok) throw new Error(`SMS rules: HTTP ${r.status}`);
        return r.json();
      })
      .then(compileRules);
  }
  return cached;
}

export function compileRules(raw) {
  const codeMap = (obj) => new Map(Object.entries(obj).map(([k, v]) => [Number(k), v]));
  const fold = codeMap(raw.fold_map);
  return {
    basic: new Set(Array.from(raw.gsm_basic)),
    extension: new Set(Array.from(raw.gsm_extension)),
    smart: codeMap(raw.smart_map),
    fold,
    foldable: new Set(Array.from(fold.keys(), (c) => String.fromCodePoint(c))),
    apostrophes: new Set(Array.from(raw.apostrophes)),
    limits: raw.limits,
    policies: raw.policies,
  };
}

// NFC, then every apostrophe variant (’ ʼ ‘ ´ `) -> ' (messages/rendering.py normalize_text).
export function normalizeText(text, rules) {
  return Array.from(text.normalize("NFC"), (c) => (rules.apostrophes.has(c) ? "'" : c)).join("");
}

function segmentsFor(units, single, multi) {
  if (units === 0) return 0;
  if (units <= single) return 1;
  return Math.ceil(units / multi);
}

// Segments when some characters take two units that must stay in the same segment.
function greedySegments(costs, multi) {
  let segments = 1;
  let used = 0;
  for (const cost of costs) {
    if (used + cost > multi) {
      segments += 1;
      used = 0;
    }
    used += cost;
  }
  return segments;
}

const isAstral = (c) => c.codePointAt(0) > 0xffff;

// Encoding and segment count of `text` exactly as given (encoding.analyze).
export function analyze(text, rules) {
  const { gsm_single, gsm_multi, ucs2_single, ucs2_multi } = rules.limits;
  const chars = Array.from(text); // code points, as Python's len() counts them
  const n = chars.length;
  const found = chars.filter((c) => !rules.basic.has(c));
  if (found.length === 0) {
    return { encoding: "GSM-7", segments: segmentsFor(n, gsm_single, gsm_multi), characters: n, units: n, non_gsm: [], text };
  }
  if (found.every((c) => rules.extension.has(c))) {
    const units = n + found.length;
    const segments = units <= gsm_single
      ? 1
      : greedySegments(chars.map((c) => (rules.extension.has(c) ? 2 : 1)), gsm_multi);
    return { encoding: "GSM-7", segments, characters: n, units, non_gsm: [], text };
  }
  const nonGsm = [...new Set(found.filter((c) => !rules.extension.has(c)))]; // first appearance order
  const astral = found.filter(isAstral).length;
  const units = n + astral;
  const segments = units <= ucs2_single || astral === 0
    ? segmentsFor(units, ucs2_single, ucs2_multi)
    : greedySegments(chars.map((c) => (isAstral(c) ? 2 : 1)), ucs2_multi);
  return { encoding: "UCS-2", segments, characters: n, units, non_gsm: nonGsm, text };
}

const translate = (text, map) =>
  Array.from(text, (c) => {
    const to = map.get(c.codePointAt(0));
    return to === undefined ? c : to;
  }).join("");

// The SmsInfo of `text` as it would be sent under `policy` (encoding.apply_policy).
export function applyPolicy(text, policy, rules) {
  if (!rules.policies.includes(policy)) throw new Error(`unknown policy ${policy}`);
  const allBasic = Array.from(text).every((c) => rules.basic.has(c));
  if (policy === "exact" || allBasic) return analyze(text, rules);
  const info = analyze(translate(text, rules.smart), rules);
  if (policy === "fold" && info.encoding === "UCS-2" && info.non_gsm.every((c) => rules.foldable.has(c))) {
    const folded = analyze(translate(info.text, rules.fold), rules);
    if (folded.segments < info.segments) return folded;
  }
  return info;
}

// What `campaign messages segments TEXT --encoding POLICY --json` prints for `text`.
export function measure(text, policy, rules) {
  return applyPolicy(normalizeText(text, rules), policy, rules);
}

function fill(template, values) {
  return (template || "").replace(/%\((\w+)\)[sd]/g, (_, name) => String(values[name] ?? ""));
}

export function render(output, info, original) {
  output.dataset.encoding = info.encoding;
  output.dataset.segments = String(info.segments);
  output.dataset.characters = String(info.characters);
  output.dataset.units = String(info.units);
  output.dataset.nonGsm = JSON.stringify(info.non_gsm);
  output.dataset.sent = info.text;
  const parts = [fill(output.dataset.tSummary, info)];
  if (info.non_gsm.length) {
    parts.push(fill(output.dataset.tForcing, { chars: info.non_gsm.join(" ") }));
  }
  if (original !== undefined && info.text !== original.trim() && info.text !== "") {
    parts.push(fill(output.dataset.tChanged, { text: info.text }));
  }
  output.textContent = parts.filter(Boolean).join(" · ");
  output.classList.toggle("multi", info.segments > 1);
  output.classList.toggle("ucs2", info.encoding === "UCS-2");
}

export async function attachCounter(textarea, output, { policy = "exact", rules = null } = {}) {
  const compiled = rules || (await loadRules());
  const update = () => render(output, measure(textarea.value.trim(), policy, compiled), textarea.value);
  textarea.addEventListener("input", update);
  update();
  return update;
}

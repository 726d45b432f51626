// The segment builder: asks /segments/count (POST, CSRF header) as the manager types, debounced,
// and shows the count, the count by department, or the parser's error with a caret at its column.
const form = document.getElementById("segment-form");
const query = document.getElementById("query");
const live = document.getElementById("live-count");
const table = document.getElementById("by-department");
const errorBox = document.getElementById("query-error");
const WAIT_MS = 350;
let timer = null;
let asked = 0;

function oneLine(text) {
  return text.split(/\r?\n/).join(" ").trim();
}

function showError(text, error) {
  errorBox.replaceChildren();
  if (error.column) {
    // The query with the character at the error's column marked (wraps safely on a phone).
    const at = error.column - 1;
    const line = document.createElement("p");
    line.className = "caret";
    const code = document.createElement("code");
    const mark = document.createElement("mark");
    mark.className = "at";
    mark.textContent = text.slice(at, at + 1).trim() || "␣";
    code.append(text.slice(0, at), mark, text.slice(at + 1));
    line.append(code);
    errorBox.append(line);
  }
  const p = document.createElement("p");
  p.textContent = error.column ? `${error.reason} (${form.dataset.columnWord} ${error.column})` : error.reason;
  errorBox.append(p);
  errorBox.hidden = false;
  live.textContent = "";
  live.dataset.count = "";
  table.hidden = true;
}

function showCount(data) {
  errorBox.hidden = true;
  errorBox.replaceChildren();
  live.dataset.count = data.count === null ? "" : String(data.count);
  live.textContent = data.count === null ? "" : form.dataset.countWord.replace("%(n)s", data.count.toLocaleString("es-GT"));
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const d of data.departments) {
    const tr = document.createElement("tr");
    tr.dataset.department = d.code;
    const name = document.createElement("td");
    name.textContent = d.code.startsWith("GT-") ? `${d.name} (${d.code})` : d.name;
    const n = document.createElement("td");
    n.className = "n";
    n.textContent = String(d.count);
    tr.append(name, n);
    body.append(tr);
  }
  table.hidden = data.departments.length === 0;
}

async function ask() {
  const text = oneLine(query.value);
  const mine = ++asked;
  const body = new URLSearchParams({ query: text });
  let response;
  try {
    response = await fetch(form.dataset.countUrl, {
      method: "POST",
      headers: { "X-CSRF-Token": form.dataset.csrf, "Accept": "application/json" },
      body,
      credentials: "same-origin",
    });
  } catch {
    return;
  }
  if (mine !== asked) return; // a newer question is on its way
  const data = await response.json().catch(() => null);
  if (!data) return;
  if (data.error) showError(text, data.error);
  else showCount(data);
}

query.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(ask, WAIT_MS);
});
if (query.value.trim()) ask();

// The campaign form: each step shows only the inputs of the schedule chosen (once, recurring, or
// offset from a contact date), and only those of its channel (radio stations for radio, the
// WhatsApp note for "WhatsApp" and "WhatsApp, else SMS"). Without JavaScript every input shows and
// the server reads only the chosen kind's, so nothing depends on this file.

function showChosen(step) {
  const chosen = step.querySelector("input[type=radio][name$='.schedule']:checked");
  const kind = chosen ? chosen.value : "at";
  for (const group of step.querySelectorAll("[data-kind]")) {
    group.hidden = group.dataset.kind !== kind;
  }
}

function showChannel(step) {
  const select = step.querySelector("select[data-channel-select]");
  if (!select) return;
  const chosen = select.value.split(",");
  for (const group of step.querySelectorAll("[data-channels]")) {
    group.hidden = !chosen.includes(group.dataset.channels);
  }
}

for (const step of document.querySelectorAll("fieldset.step")) {
  showChosen(step);
  showChannel(step);
  for (const radio of step.querySelectorAll("input[type=radio][name$='.schedule']")) {
    radio.addEventListener("change", () => showChosen(step));
  }
  const select = step.querySelector("select[data-channel-select]");
  if (select) select.addEventListener("change", () => showChannel(step));
}

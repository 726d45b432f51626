// The translation edit page: the live SMS counter under the body (the hotline reply box's counter,
// campaign/web/static/sms_counter.js), under the language's encoding policy.
import { attachCounter } from "/static/sms_counter.js";

const body = document.getElementById("translation-body");
const output = document.getElementById("sms-counter");
if (body && output) attachCounter(body, output, { policy: output.dataset.policy || "exact" });

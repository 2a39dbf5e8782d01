// gatehouse console: the little the pages do with JavaScript. Everything works without it
// except the copy button; times are shown in the browser's locale when this runs (UTC without).
"use strict";

function showLocalTimes() {
  for (const el of document.querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) {
      el.title = el.textContent;
      el.textContent = when.toLocaleString();
    }
  }
}

function wireCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) {
      continue;
    }
    button.classList.remove("hidden");
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = "Copied";
      } catch (_) {
        button.textContent = "Copy failed: select the text";
      }
    });
  }
}

async function checkAuditBadge() {
  const badge = document.querySelector("[data-verify-url]");
  if (!badge) {
    return;
  }
  badge.textContent = "verifying…";
  try {
    const answer = await fetch(badge.getAttribute("data-verify-url"), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const report = await answer.json();
    if (answer.ok && report.valid === true) {
      badge.textContent = "chain verified (" + report.events + " events)";
      badge.className = "badge ok";
    } else if (answer.ok) {
      badge.textContent = "chain broken at seq " + report.first_bad_seq;
      badge.className = "badge broken";
    } else {
      badge.textContent = "could not verify";
    }
    badge.setAttribute("data-state", answer.ok ? (report.valid ? "valid" : "broken") : "error");
  } catch (_) {
    badge.textContent = "could not verify";
    badge.setAttribute("data-state", "error");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  showLocalTimes();
  wireCopyButtons();
  checkAuditBadge();
});

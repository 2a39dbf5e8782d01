// gatehouse console: the little the pages do with JavaScript. Everything works without it
// except the copy button and passkeys (the browser makes and uses those: WebAuthn is a script
// API); times are shown in the browser's locale when this runs (UTC without).
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

// ---- Passkeys (SPEC §15): the JSON API under /v1/auth, with the session cookie and, for a
// signed-in page, the CSRF token from its forms. WebAuthn options carry bytes as base64url.

function fromBase64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function toBase64url(buffer) {
  let text = "";
  for (const byte of new Uint8Array(buffer)) {
    text += String.fromCharCode(byte);
  }
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function creationOptions(publicKey) {
  const options = structuredClone(publicKey);
  options.challenge = fromBase64url(options.challenge);
  options.user.id = fromBase64url(options.user.id);
  for (const c of options.excludeCredentials || []) {
    c.id = fromBase64url(c.id);
  }
  return options;
}

function requestOptions(publicKey) {
  const options = structuredClone(publicKey);
  options.challenge = fromBase64url(options.challenge);
  for (const c of options.allowCredentials || []) {
    c.id = fromBase64url(c.id);
  }
  return options;
}

function registrationJson(credential) {
  const r = credential.response;
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response: {
      attestationObject: toBase64url(r.attestationObject),
      clientDataJSON: toBase64url(r.clientDataJSON),
      transports: r.getTransports ? r.getTransports() : undefined,
    },
    extensions: credential.getClientExtensionResults(),
  };
}

function assertionJson(credential) {
  const r = credential.response;
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response: {
      authenticatorData: toBase64url(r.authenticatorData),
      clientDataJSON: toBase64url(r.clientDataJSON),
      signature: toBase64url(r.signature),
      userHandle: r.userHandle ? toBase64url(r.userHandle) : null,
    },
    extensions: credential.getClientExtensionResults(),
  };
}

async function postJson(path, body, csrf) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (csrf) {
    headers["X-CSRF-Token"] = csrf;
  }
  const answer = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers,
    body: JSON.stringify(body),
  });
  let json = null;
  try {
    json = await answer.json();
  } catch (_) {
    json = null;
  }
  if (!answer.ok) {
    const message = json && json.error && json.error.message;
    throw new Error(message || "The server refused (" + answer.status + ").");
  }
  return json;
}

function showStatus(element, text) {
  element.textContent = text;
  element.classList.remove("hidden");
}

// Where to go after signing in: a path on this site only.
function safeReturn(to) {
  return to && to.startsWith("/") && !to.startsWith("//") && !to.startsWith("/\\") ? to : "/console/orgs";
}

function passkeysSupported() {
  return typeof window.PublicKeyCredential === "function" && navigator.credentials;
}

function wirePasskeyRegistration() {
  const form = document.querySelector("form[data-passkey-register]");
  if (!form || !passkeysSupported()) {
    return;
  }
  const status = document.getElementById("passkey-register-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.classList.add("hidden");
    const csrf = form.querySelector("input[name=csrf_token]").value;
    try {
      const start = await postJson("/v1/auth/passkeys/register/start", {
        name: form.querySelector("input[name=name]").value,
        current_password: form.querySelector("input[name=current_password]").value,
      }, csrf);
      const credential = await navigator.credentials.create({ publicKey: creationOptions(start.publicKey) });
      await postJson("/v1/auth/passkeys/register/finish", {
        ceremony_id: start.ceremony_id,
        credential: registrationJson(credential),
      }, csrf);
      window.location.assign("/console/account/mfa");
    } catch (e) {
      showStatus(status, e && e.name === "NotAllowedError" ? "The passkey was not made (cancelled or timed out)." : e.message);
    }
  });
}

async function signInWithPasskey(start, finishPath, finishBody, returnTo, status) {
  try {
    const credential = await navigator.credentials.get({ publicKey: requestOptions(start) });
    await postJson(finishPath, finishBody(assertionJson(credential)));
    window.location.assign(safeReturn(returnTo));
  } catch (e) {
    showStatus(status, e && e.name === "NotAllowedError" ? "No passkey was used (cancelled or timed out)." : e.message);
  }
}

function wirePasskeySignIn() {
  const box = document.querySelector("[data-passkey-login]");
  if (!box || !passkeysSupported()) {
    return;
  }
  box.classList.remove("hidden");
  const status = document.getElementById("passkey-sign-in-status");
  document.getElementById("passkey-sign-in-button").addEventListener("click", async () => {
    status.classList.add("hidden");
    const email = (document.getElementById("email") || { value: "" }).value.trim();
    try {
      const start = await postJson("/v1/auth/passkeys/login/start", email ? { email } : {});
      await signInWithPasskey(start.publicKey, "/v1/auth/passkeys/login/finish",
        (credential) => ({ ceremony_id: start.ceremony_id, credential }),
        box.getAttribute("data-return-to"), status);
    } catch (e) {
      showStatus(status, e.message);
    }
  });
}

function wirePasskeySecondStep() {
  const box = document.querySelector("[data-passkey-second-step]");
  if (!box || !passkeysSupported()) {
    return;
  }
  box.classList.remove("hidden");
  const status = document.getElementById("passkey-second-step-status");
  document.getElementById("passkey-second-step-button").addEventListener("click", () => {
    status.classList.add("hidden");
    const ceremonyId = box.getAttribute("data-ceremony-id");
    signInWithPasskey(JSON.parse(box.getAttribute("data-options")), "/v1/auth/login/mfa",
      (credential) => ({
        mfa_token: box.getAttribute("data-mfa-token"),
        passkey: { ceremony_id: ceremonyId, credential },
      }),
      box.getAttribute("data-return-to"), status);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  showLocalTimes();
  wireCopyButtons();
  checkAuditBadge();
  wirePasskeyRegistration();
  wirePasskeySignIn();
  wirePasskeySecondStep();
});

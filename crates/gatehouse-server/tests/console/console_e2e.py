#!/usr/bin/env python3
"""The console end to end in Debian's Chromium, driven headless by Selenium (SPEC §14).

Run by tests/console.rs (so `cargo test --workspace` runs it) once per database:

    console_e2e.py --bin target/debug/gatehouse --db sqlite|postgres --shots DIR

It starts `gatehouse serve` on port 0 against a fresh database, opens the setup link the server
prints, and walks every page and action of the console as an owner, an invited member and an
attacker on another origin. Every page it visits is checked for the console's CSP, for inline
script or style, and for a label on every input; a screenshot of each goes into DIR.
"""

import argparse
import html
import json
import os
import re
import shutil
import sys
import tempfile
import uuid

import pyotp

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions
from selenium.webdriver.support.ui import Select, WebDriverWait

from console_support import (NEVER_AGAIN, Console, Database, Failure, Server, check, fetch,
                             serve_attacker)

PASSWORD = "correct horse battery staple"
OWNER = "alice@example.com"
INVITEE = "bob@example.com"
XSS = "<script>alert(1)</script>"


# ---------------------------------------------------------------------------------------------
# The walk


def run(binary, kind, shots):
    workdir = tempfile.mkdtemp(prefix="gh-console-")
    db = Database(kind, workdir)
    server = Server(binary, db, workdir)
    browsers = []
    try:
        walk(server, db, shots, browsers)
    except Exception:
        for b in browsers:
            try:
                b.driver.save_screenshot(os.path.join(shots, f"FAILED-{b.who}.png"))
                print(f"  {b.who} was at {b.url()}: {b.notice()!r}", flush=True)
            except Exception:  # noqa: BLE001 - a browser that already died
                pass
        print("  server log (stderr):", *server.stderr_lines[-15:], sep="\n    ", flush=True)
        raise
    finally:
        for b in browsers:
            try:
                b.quit()
            except Exception:  # noqa: BLE001 - a browser that already died
                pass
        server.stop()
        db.drop()
        shutil.rmtree(workdir, ignore_errors=True)


def walk(server, db, shots, browsers):
    step("the setup link printed at first start lands signed in")
    check(server.setup_link.startswith(server.base + "/console/setup?token="),
          f"setup link {server.setup_link} is not on {server.base}")
    owner = Console(server, shots, "owner")
    browsers.append(owner)
    owner.go(server.setup_link).page("setup")
    owner.fill(email=OWNER, password=PASSWORD, org_name="Acme").submit("/console/setup")
    check("/console/orgs/" in owner.url(), f"after setup: {owner.url()}")
    check(OWNER in owner.source, "after setup the header names the owner")
    org = owner.url().rstrip("/").rsplit("/", 1)[1]
    owner.page("org-settings")
    status, _, _ = fetch("GET", server.setup_link)
    check(status == 404, f"setup link after setup: {status}")

    step("an org named like a script renders as text")
    owner.fill(name=XSS).submit(f"/console/orgs/{org}/rename")
    check(owner.no_alert(), "an alert ran")
    check(html.escape(XSS, quote=False) in owner.source or "&lt;script&gt;alert(1)&lt;/script&gt;" in owner.source,
          "the org name is not escaped")
    check(XSS not in owner.source, "the raw script tag is in the page")
    owner.page("org-renamed-xss")
    owner.fill(name="Acme").submit(f"/console/orgs/{org}/rename")

    step("orgs: create, list")
    owner.go("/console/orgs").page("orgs")
    owner.fill(name="Second org").submit("/console/orgs")
    second = owner.url().rstrip("/").rsplit("/", 1)[1]
    owner.go("/console/orgs")
    check("Second org" in owner.source and "Acme" in owner.source, "both orgs listed")

    step("API keys: the key shown once with a copy button, then never again")
    owner.go(f"/console/orgs/{org}/keys").page("keys-empty")
    check("No API keys yet" in owner.source, "empty state")
    owner.fill(name="deploy bot")
    owner.driver.find_element(By.CSS_SELECTOR, "input[name=scope][value='secrets:read']").click()
    owner.driver.find_element(By.CSS_SELECTOR, "input[name=scope][value='audit:read']").click()
    owner.submit(f"/console/orgs/{org}/keys")
    key = owner.driver.find_element(By.ID, "new-key").text.strip()
    check(key.startswith("gk_"), f"shown key {key!r}")
    NEVER_AGAIN.add(key)
    copy = owner.driver.find_element(By.CSS_SELECTOR, "button[data-copy=new-key]")
    check(copy.is_displayed(), "the copy button shows where script runs")
    owner.page("keys-created", reveals=[key])
    status, _, body = fetch("GET", f"{server.base}/v1/orgs/{org}/secrets", {"Authorization": "Bearer " + key})
    check(status == 200, f"the shown key works: {status} {body}")
    owner.go(f"/console/orgs/{org}/keys")
    check(key not in owner.source, "the key appears again on the keys page")
    check("deploy bot" in owner.source and "audit:read secrets:read" in owner.source, "the key is listed with its scopes")
    owner.page("keys-listed")

    step("API keys: GET on an action URL changes nothing")
    key_id = re.search(rf"/console/orgs/{org}/keys/([0-9a-f-]+)/delete", owner.source).group(1)
    owner.go(f"/console/orgs/{org}/keys/{key_id}/delete").page("get-on-action")
    status, _, _ = fetch("GET", f"{server.base}/v1/orgs/{org}/secrets", {"Authorization": "Bearer " + key})
    check(status == 200, "a GET on the delete URL deleted the key")
    owner.go("/console/logout")
    owner.go("/console/orgs")
    check("/console/orgs" in owner.url() and "/login" not in owner.url(), "a GET on logout signed out")

    step("API keys: revoke, then delete")
    owner.go(f"/console/orgs/{org}/keys")
    owner.submit(f"/keys/{key_id}/revoke")
    check("revoked" in owner.source, "revoked state shown")
    status, _, _ = fetch("GET", f"{server.base}/v1/orgs/{org}/secrets", {"Authorization": "Bearer " + key})
    check(status == 401, f"a revoked key still works: {status}")
    owner.submit(f"/keys/{key_id}/delete")
    check("deploy bot" not in owner.source, "deleted key still listed")

    step("secrets: set, list metadata only, never reveal, delete")
    owner.go(f"/console/orgs/{org}/secrets").page("secrets-empty")
    value = "sk_live_" + uuid.uuid4().hex
    NEVER_AGAIN.update([value, value + "2"])
    owner.fill(name="stripe", value=value).submit(f"/console/orgs/{org}/secrets")
    check("stripe" in owner.source and value not in owner.source, "secret listed without its value")
    owner.fill(name="stripe", value=value + "2").submit(f"/console/orgs/{org}/secrets")
    check("version 2" in owner.notice(), f"second version: {owner.notice()!r}")
    owner.page("secrets-listed")
    owner.fill(name="bad name!", value="x").submit(f"/console/orgs/{org}/secrets")
    check("name" in owner.notice().lower(), f"bad name refused in words: {owner.notice()!r}")
    owner.go(f"/console/orgs/{org}/secrets")
    owner.submit("/secrets/stripe/delete")
    check("No secrets yet" in owner.source, f"deleted secret still listed: {owner.url()} {owner.notice()!r}")

    step("members: invite (the link shown once)")
    owner.go(f"/console/orgs/{org}/members").page("members")
    owner.fill(email=INVITEE).submit(f"/console/orgs/{org}/invitations")
    link = owner.driver.find_element(By.ID, "invitation-link").text.strip()
    check(link.startswith(server.base + "/console/invitations/accept?token="), f"invitation link {link}")
    token = link.split("token=", 1)[1]
    NEVER_AGAIN.add(token)
    owner.page("members-invited", reveals=[token])
    owner.go(f"/console/orgs/{org}/members").page("members-after-invite")
    check(INVITEE in owner.source, "open invitation listed")

    step("invitation accept: a new account, then sign in")
    bob = Console(server, shots, "invitee")
    browsers.append(bob)
    bob.go(link).page("invitation", reveals=[token])
    bob.fill(name="Bob", password=PASSWORD).submit("/console/invitations/accept")
    check("/console/login" in bob.url(), f"after accept: {bob.url()}")
    bob.page("login")
    bob.fill(email=INVITEE, password=PASSWORD).submit("/console/login")
    check(bob.url().endswith("/console/orgs"), f"after sign-in: {bob.url()}")
    check("Acme" in bob.source, "the invitee's orgs list the org")

    step("a member sees members but not keys or secrets")
    bob.go(f"/console/orgs/{org}/keys").page("member-keys-denied")
    check("Not allowed" in bob.source, "a member reached the keys page")
    bob.go(f"/console/orgs/{second}").page("other-org")
    check("Page not found" in bob.source, "another org's page is not a 404")

    step("grants: pick a resource, grant a member, a sharing member sees it, remove it")
    owner.go(f"/console/orgs/{org}/grants").page("grants-pick")
    owner.fill(resource="page:1").submit(f"/console/orgs/{org}/grants")
    check("No grants on this resource" in owner.source, f"page:1 before any grant: {owner.notice()!r}")
    add = owner.driver.find_element(By.ID, "add-grant")
    Select(add.find_element(By.NAME, "subject")).select_by_visible_text(f"{INVITEE} (member)")
    for cap in ("view", "share"):
        add.find_element(By.CSS_SELECTOR, f"input[name=capability][value='{cap}']").click()
    owner.click_and_wait(add.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    check("Granted view, share on page:1." in owner.notice(), f"grant: {owner.notice()!r}")
    owner.page("grants-listed")
    check(INVITEE in owner.source, "the grant names the member")
    bob.go(f"/console/orgs/{org}/grants?resource=page:1").page("member-grants")
    check('id="grants"' in bob.source, "a sharing member sees the resource's grants")
    bob.go(f"/console/orgs/{org}/grants?resource=page:2")
    check('id="grants"' not in bob.source and bob.notice(), "a member sees no other resource's grants")
    owner.go(f"/console/orgs/{org}/grants?resource=page:1")
    owner.submit("/delete")
    check("Grant removed." in owner.notice() and "No grants on this resource" in owner.source,
          f"removed grant still listed: {owner.notice()!r}")

    step("members: change role, remove")
    owner.go(f"/console/orgs/{org}/members")
    bob_id = re.search(r"/members/([0-9a-f-]+)/role", [
        m for m in re.findall(r'action="[^"]+/members/[0-9a-f-]+/role"', owner.source)
    ][-1]).group(1)
    form = owner.driver.find_element(By.CSS_SELECTOR, f"form[action$='/members/{bob_id}/role']")
    Select(form.find_element(By.TAG_NAME, "select")).select_by_value("admin")
    owner.click_and_wait(form.find_element(By.TAG_NAME, "button"))
    check(re.search(rf'<option value="admin"\s+selected', owner.source) is not None, "role change shown")
    bob.go(f"/console/orgs/{org}/keys")
    check("Create a key" in bob.source, "the new admin reaches the keys page")
    owner.submit(f"/members/{bob_id}/remove")
    check(INVITEE not in owner.source, "removed member still listed")
    bob.go(f"/console/orgs/{org}")
    check("Page not found" in bob.source, "a removed member still sees the org")

    step("my account: sessions with revoke, password change, my events")
    status, headers, _ = fetch("POST", f"{server.base}/v1/auth/login", {"Content-Type": "application/json"},
                              json.dumps({"email": OWNER, "password": PASSWORD}))
    check(status == 200, f"API sign-in {status}")
    other_cookie = headers.get("Set-Cookie").split(";", 1)[0]
    owner.go("/console/account").page("account")
    revoke_forms = owner.driver.find_elements(By.CSS_SELECTOR, "form[action*='/console/account/sessions/']")
    check(len(revoke_forms) >= 1, "the other session is listed with a revoke button")
    owner.click_and_wait(revoke_forms[0].find_element(By.TAG_NAME, "button"))
    status, _, _ = fetch("GET", f"{server.base}/v1/auth/me", {"Cookie": other_cookie})
    check(status == 401, f"the revoked session still works: {status}")
    check("auth.login_succeeded" in owner.source and "session.revoked" in owner.source,
          "my security events list the sign-ins and the revocation")
    owner.fill(current_password="wrong password here", new_password="another long password 1")
    owner.submit("/console/account/password")
    check("email or password is not right" in owner.notice(), f"wrong current password: {owner.notice()!r}")
    owner.page("account-password-refused")
    owner.fill(current_password=PASSWORD, new_password="another long password 1")
    owner.submit("/console/account/password")
    check("Password changed" in owner.notice(), f"password change: {owner.notice()!r}")
    new_password = "another long password 1"

    step("sign out, and sign in again comes back to the page asked for")
    owner.submit("/console/logout")
    check("/console/login" in owner.url(), "sign-out lands on sign-in")
    owner.go(f"/console/orgs/{org}/members")
    check("/console/login?return_to=" in owner.url(), f"signed out: {owner.url()}")
    owner.fill(email=OWNER, password="not the password at all").submit("/console/login")
    check("email or password is not right" in owner.notice(), "wrong password in words")
    owner.page("login-refused")
    owner.fill(email=OWNER, password=new_password).submit("/console/login")
    check(owner.url().endswith(f"/console/orgs/{org}/members"), f"return_to followed: {owner.url()}")
    owner.go("/console/login?return_to=%2F%2Fevil.example%2F")
    owner.fill(email=OWNER, password=new_password).submit("/console/login")
    check(owner.url().endswith("/console/orgs"), f"an unsafe return_to was followed: {owner.url()}")

    step("second factors: TOTP from the QR page, recovery codes once, the code step at sign-in")
    owner.go("/console/account/mfa").page("mfa-off")
    owner.fill(current_password=new_password).submit("/console/account/mfa/totp")
    seed = owner.driver.find_element(By.ID, "totp-secret").text.strip()
    check(owner.driver.find_elements(By.CSS_SELECTOR, "#totp-qr svg"), "the QR code is drawn")
    NEVER_AGAIN.add(seed)
    owner.page("mfa-enroll", reveals=(seed,))
    owner.fill(code=pyotp.TOTP(seed).now()).submit("/console/account/mfa/totp/confirm")
    codes = [c.text.strip() for c in owner.driver.find_elements(By.CSS_SELECTOR, "ul.codes code")]
    check(len(codes) == 10, f"recovery codes shown: {codes}")
    NEVER_AGAIN.update(codes)
    owner.page("mfa-codes", reveals=codes)
    owner.go("/console/account/mfa").page("mfa-on")
    owner.submit("/console/logout")
    owner.fill(email=OWNER, password=new_password).submit("/console/login")
    check(owner.driver.find_elements(By.CSS_SELECTOR, "form[action$='/console/login/mfa']"),
          f"no code page after a right password: {owner.url()}")
    owner.page("login-second-step")
    owner.fill(otp=codes[0].lower().replace("-", "")).submit("/console/login/mfa")
    check(owner.url().endswith("/console/orgs"), f"after the second step: {owner.url()}")
    passkeys_walk(owner, new_password, codes[2])
    owner.go("/console/account/mfa")
    off = owner.driver.find_element(By.CSS_SELECTOR, "form[action$='/console/account/mfa/totp/disable']")
    off.find_element(By.NAME, "current_password").send_keys(new_password)
    off.find_element(By.NAME, "code").send_keys(codes[1])
    owner.click_and_wait(off.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    check("TOTP is off." in owner.notice(), f"turning TOTP off: {owner.notice()!r}")

    step("a cross-site form post is refused and changes nothing")
    csrf = owner.driver.find_element(By.NAME, "csrf_token").get_attribute("value")
    attack = (f'<form id="f" method="post" action="{server.base}/console/orgs">'
              f'<input name="csrf_token" value="{csrf}"><input name="name" value="Evil org">'
              f'<button id="go" type="submit">go</button></form>')
    port, stop = serve_attacker(attack)
    try:
        for origin in (f"http://localhost:{port}", f"http://127.0.0.1:{port}"):
            owner.go(origin + "/")
            owner.driver.find_element(By.ID, "go").click()
            WebDriverWait(owner.driver, 10).until(lambda d: d.current_url.startswith(server.base))
            owner.page("cross-site-refused")
            owner.go("/console/orgs")
            check("Evil org" not in owner.source, f"a form from {origin} created an org")
        login_attack = (f'<form method="post" action="{server.base}/console/login">'
                        f'<input name="email" value="{OWNER}"><input name="password" value="{new_password}">'
                        f'<button id="go" type="submit">go</button></form>')
    finally:
        stop()
    port, stop = serve_attacker(login_attack)
    try:
        fresh = Console(server, shots, "attacked")
        browsers.append(fresh)
        fresh.go(f"http://127.0.0.1:{port}/")
        fresh.driver.find_element(By.ID, "go").click()
        WebDriverWait(fresh.driver, 10).until(lambda d: d.current_url.startswith(server.base))
        check("Request refused" in fresh.source, "a cross-site sign-in (login CSRF) was accepted")
        fresh.go("/console/orgs")
        check("/console/login" in fresh.url(), "login CSRF signed the browser in")
    finally:
        stop()

    step("audit: events, filters, paging, badge, export; the badge turns broken after an edit")
    owner.go(f"/console/orgs/{org}/audit")
    WebDriverWait(owner.driver, 10).until(
        lambda d: d.find_element(By.ID, "verify-badge").get_attribute("data-state") != "unknown")
    badge = owner.driver.find_element(By.ID, "verify-badge")
    check(badge.get_attribute("data-state") == "valid", f"badge {badge.text!r}")
    owner.page("audit")
    check("api_key.created" in owner.source and "secret.written" in owner.source, "events listed")
    Select(owner.driver.find_element(By.ID, "category")).select_by_value("audit")
    owner.fill(action="secret.written").submit(f"/console/orgs/{org}/audit")
    rows = owner.driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")
    check(len(rows) == 2 and all("secret.written" in r.text for r in rows), f"filtered rows {len(rows)}")
    owner.page("audit-filtered")
    owner.go(f"/console/orgs/{org}/audit?limit=2")
    first_page = [r.text for r in owner.driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")]
    owner.click_and_wait(owner.driver.find_element(By.ID, "next-page"))
    second_page = [r.text for r in owner.driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")]
    check(len(first_page) == 2 and second_page and second_page[0] not in first_page, "paging")
    status, headers, body = fetch("GET", f"{server.base}/console/orgs/{org}/audit/export",
                                 {"Cookie": owner.cookie_header()})
    lines = [json.loads(line) for line in body.splitlines() if line]
    check(status == 200 and "attachment" in headers.get("Content-Disposition", ""), "export download")
    check(lines and all("hash" in e for e in lines) and [e["seq"] for e in lines] == list(range(1, len(lines) + 1)),
          "export holds the whole chain in order with hashes")
    db.tamper("UPDATE audit_events SET body = replace(body, 'secret.written', 'secret.wr1tten') "
               f"WHERE org_id = '{org}' AND action = 'secret.written'")
    owner.go(f"/console/orgs/{org}/audit")
    WebDriverWait(owner.driver, 10).until(
        lambda d: d.find_element(By.ID, "verify-badge").get_attribute("data-state") != "unknown")
    badge = owner.driver.find_element(By.ID, "verify-badge")
    check(badge.get_attribute("data-state") == "broken", f"badge after an edit: {badge.text!r}")
    owner.page("audit-broken")

    step("readable on a phone")
    owner.driver.set_window_size(390, 844)
    for path in (f"/console/orgs/{org}/members", "/console/account"):
        owner.go(path).page("phone")
        width = owner.driver.execute_script("return document.documentElement.scrollWidth")
        inner = owner.driver.execute_script("return window.innerWidth")
        check(width <= inner + 1, f"{path}: the page scrolls sideways on a phone ({width} > {inner})")
    owner.driver.set_window_size(1280, 900)

    step("keyboard: every control is reachable and focus is visible")
    owner.go("/console/orgs")
    seen = set()
    owner.driver.execute_script("document.querySelector('a.brand').focus()")
    for _ in range(40):
        owner.driver.switch_to.active_element.send_keys(Keys.TAB)
        el = owner.driver.switch_to.active_element
        if el.tag_name == "body":
            break  # past the last control
        outline = el.value_of_css_property("outline-style")
        seen.add(el.tag_name)
        check(outline not in ("none", ""), f"focused {el.tag_name} has no visible outline ({outline})")
    check({"a", "input", "button"} <= seen, f"tab order reaches links, inputs and buttons: {seen}")

    step("works without JavaScript")
    nojs = Console(server, shots, "nojs", javascript=False)
    browsers.append(nojs)
    nojs.go("/console/login").fill(email=OWNER, password=new_password).submit("/console/login")
    nojs.go(f"/console/orgs/{org}/keys").fill(name="no script key").submit(f"/console/orgs/{org}/keys")
    check("scopes: required" in nojs.notice(), f"a key without scopes: {nojs.notice()!r}")
    nojs.fill(name="no script key")
    nojs.driver.find_element(By.CSS_SELECTOR, "input[name=scope][value='check']").click()
    nojs.submit(f"/console/orgs/{org}/keys")
    shown = nojs.driver.find_element(By.ID, "new-key").text.strip()
    check(shown.startswith("gk_"), "key created without script")
    NEVER_AGAIN.add(shown)
    check(not nojs.driver.find_element(By.CSS_SELECTOR, "button[data-copy=new-key]").is_displayed(),
          "a copy button that cannot work is shown")
    nojs.page("nojs-key", reveals=[shown])
    nojs.go(f"/console/orgs/{org}/audit/verify").page("nojs-verify")
    check("broken at seq" in nojs.notice(), f"verify without script: {nojs.notice()!r}")

    step("org delete asks for the name")
    owner.go(f"/console/orgs/{second}")
    owner.fill(confirm="wrong name").submit(f"/console/orgs/{second}/delete")
    check("confirm" in owner.notice(), f"a wrong confirmation: {owner.notice()!r}")
    owner.fill(confirm="Second org").submit(f"/console/orgs/{second}/delete")
    check("deleted" in owner.notice(), f"deleted: {owner.notice()!r}")
    owner.go(f"/console/orgs/{second}")
    check("Page not found" in owner.source, "a deleted org still shows")

    step("static assets: hashed names, long caching, no other files")
    css = re.search(r'href="(/console/static/console\.[0-9a-f]{16}\.css)"', owner.source).group(1)
    status, headers, _ = fetch("GET", server.base + css)
    check(status == 200 and "immutable" in headers.get("Cache-Control", ""), f"css {status} {headers.get('Cache-Control')}")
    status, _, _ = fetch("GET", server.base + "/console/static/../../Cargo.toml")
    check(status == 404, f"a path outside the assets: {status}")


def passkeys_walk(owner, password, recovery_code):
    """Passkeys with Chromium's virtual authenticator (platform, resident keys, user
    verification), TOTP on: register, sign in by email and without one, as the second step
    after a password, and remove."""
    step("passkeys: register with the virtual authenticator; it is listed")
    options = VirtualAuthenticatorOptions()
    options.protocol = VirtualAuthenticatorOptions.Protocol.CTAP2
    options.transport = VirtualAuthenticatorOptions.Transport.INTERNAL
    options.has_resident_key = True
    options.has_user_verification = True
    options.is_user_verified = True
    owner.driver.add_virtual_authenticator(options)
    owner.go("/console/account/mfa").page("passkeys-none")
    check("No passkeys yet" in owner.source, "the empty passkey list")
    owner.driver.find_element(By.ID, "passkey_name").send_keys("Work laptop")
    owner.driver.find_element(By.ID, "passkey_password").send_keys(password)
    form = owner.driver.find_element(By.CSS_SELECTOR, "form[data-passkey-register]")
    owner.click_and_wait(form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    rows = owner.driver.find_elements(By.CSS_SELECTOR, "tr[data-passkey-id]")
    check(len(rows) == 1 and "Work laptop" in rows[0].text, f"the passkey is listed: {owner.source[-2000:]}")
    owner.page("passkeys-listed")
    check(len(owner.driver.get_credentials()) == 1, "the authenticator holds one credential")
    check(owner.driver.get_credentials()[0].is_resident_credential, "the credential is discoverable")

    step("passkeys: sign out, sign in by email with the passkey")
    owner.submit("/console/logout")
    owner.go("/console/login")
    button = owner.driver.find_element(By.ID, "passkey-sign-in-button")
    check(button.is_displayed(), "the passkey button shows where script runs")
    owner.page("login-with-passkey")
    owner.fill(email=OWNER)
    owner.click_and_wait(button)
    check(owner.url().endswith("/console/orgs"), f"signed in with a passkey: {owner.url()} {owner.source[-800:]}")

    step("passkeys: sign out, sign in without an email (discoverable)")
    owner.submit("/console/logout")
    owner.go("/console/login")
    owner.click_and_wait(owner.driver.find_element(By.ID, "passkey-sign-in-button"))
    check(owner.url().endswith("/console/orgs"), f"signed in without an email: {owner.url()}")

    step("passkeys: after a right password the passkey is a second step beside the code")
    owner.submit("/console/logout")
    owner.fill(email=OWNER, password=password).submit("/console/login")
    button = owner.driver.find_elements(By.ID, "passkey-second-step-button")
    check(button and button[0].is_displayed(), f"no passkey second step: {owner.url()}")
    check(owner.driver.find_elements(By.CSS_SELECTOR, "form[action$='/console/login/mfa']"),
          "the code form is gone")
    owner.page("login-second-step-passkey")
    owner.click_and_wait(button[0])
    check(owner.url().endswith("/console/orgs"), f"after the passkey second step: {owner.url()}")

    step("passkeys: remove it with the password")
    owner.go("/console/account/mfa")
    remove = owner.driver.find_element(By.CSS_SELECTOR, "form[action$='/console/account/passkeys/remove']")
    remove.find_element(By.NAME, "current_password").send_keys(password)
    owner.click_and_wait(remove.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    check("The passkey is removed." in owner.notice(), f"removing: {owner.notice()!r}")
    check(not owner.driver.find_elements(By.CSS_SELECTOR, "tr[data-passkey-id]"), "still listed")
    owner.page("passkeys-removed")
    owner.submit("/console/logout")
    owner.go("/console/login")
    owner.driver.execute_script("window.__ghBefore = true")
    owner.fill(email=OWNER)
    owner.driver.find_element(By.ID, "passkey-sign-in-button").click()
    WebDriverWait(owner.driver, 15).until(
        lambda d: d.find_element(By.ID, "passkey-sign-in-status").is_displayed())
    check("/console/login" in owner.url(), "a removed passkey signed in")
    owner.fill(email=OWNER, password=password).submit("/console/login")
    check(not owner.driver.find_elements(By.ID, "passkey-second-step-button"),
          "a passkey step without passkeys")
    owner.fill(otp=recovery_code).submit("/console/login/mfa")
    check(owner.url().endswith("/console/orgs"), f"password and code again: {owner.url()}")


def step(text):
    print("-", text, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--shots", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.shots, ignore_errors=True)
    os.makedirs(args.shots)
    try:
        run(args.bin, args.db, args.shots)
    except Failure as e:
        print("FAILED:", e, flush=True)
        return 1
    print("console end to end: all passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

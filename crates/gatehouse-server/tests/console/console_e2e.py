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
import http.server
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PASSWORD = "correct horse battery staple"
OWNER = "alice@example.com"
INVITEE = "bob@example.com"
XSS = "<script>alert(1)</script>"


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)


# ---------------------------------------------------------------------------------------------
# The server and its database


class Database:
    """A fresh database: a file for SQLite, a new database on the local PostgreSQL."""

    def __init__(self, kind, workdir):
        self.kind = kind
        if kind == "sqlite":
            self.path = os.path.join(workdir, "console.db")
            self.url = "sqlite://" + self.path
        else:
            base = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
            self.name = "gh_console_" + uuid.uuid4().hex[:12]
            self.admin = base
            self.psql(base, f"CREATE DATABASE {self.name}")
            self.url = base.rsplit("/", 1)[0] + "/" + self.name

    @staticmethod
    def psql(url, sql):
        out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise Failure(f"psql {sql!r}: {out.stderr}")
        return out.stdout

    def tamper(self, sql):
        """Runs `sql` as the database's owner with the append-only triggers out of the way (an
        attacker with access to the database itself)."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.path) as db:
                db.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
                return db.execute(sql).rowcount
        return self.psql(self.url, "SET session_replication_role = replica; " + sql)

    def drop(self):
        if self.kind == "postgres":
            try:
                self.psql(self.admin, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            except Failure:
                pass


class Server:
    def __init__(self, binary, db, workdir):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
        env.update({
            "GATEHOUSE_DATABASE_URL": db.url,
            "GATEHOUSE_ARGON2": "m=1024,t=1,p=1",
            "GATEHOUSE_RATE_LIMIT_AUTH": "100000/1m",
            "GATEHOUSE_RATE_LIMIT_API": "100000/1m",
            "GATEHOUSE_LOCKOUT": "1000/15m",
        })
        self.stderr_lines = []
        self.proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0"], cwd=workdir,
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.time() + 30
        self.setup_link = None
        self.port = None
        while time.time() < deadline and (self.setup_link is None or self.port is None):
            for line in list(self.stderr_lines):
                if line.startswith("setup: open "):
                    self.setup_link = line[len("setup: open "):].strip()
                if line.startswith("gatehouse listening on "):
                    self.port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
            if self.proc.poll() is not None:
                raise Failure("gatehouse exited: " + "\n".join(self.stderr_lines))
            time.sleep(0.05)
        check(self.setup_link and self.port, "no setup link or port: " + "\n".join(self.stderr_lines))
        self.base = f"http://localhost:{self.port}"

    def _read(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ---------------------------------------------------------------------------------------------
# HTTP beside the browser (headers, downloads, API calls)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(method, url, headers=None, body=None):
    """(status, headers, body text) without following redirects."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=15) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


# ---------------------------------------------------------------------------------------------
# The browser


def chromium(javascript=True):
    o = webdriver.ChromeOptions()
    o.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--window-size=1280,900", "--user-data-dir=" + tempfile.mkdtemp(prefix="gh-chrome-")]:
        o.add_argument(a)
    if not javascript:
        o.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=o)
    driver.set_page_load_timeout(20)
    return driver


class Console:
    """One browser on the console, with the page checks every visit gets."""

    def __init__(self, server, shots, who, javascript=True):
        self.server = server
        self.shots = shots
        self.who = who
        self.driver = chromium(javascript)
        self.count = 0

    def quit(self):
        self.driver.quit()

    @property
    def source(self):
        return self.driver.page_source

    def url(self):
        return self.driver.current_url

    def cookie_header(self):
        return "; ".join(f"{c['name']}={c['value']}" for c in self.driver.get_cookies())

    def go(self, path):
        self.driver.get(self.server.base + path if path.startswith("/") else path)
        return self

    def page(self, name):
        """The checks of every console page, and its screenshot."""
        self.count += 1
        path = os.path.join(self.shots, f"{self.who}-{self.count:02d}-{name}.png")
        self.driver.save_screenshot(path)
        src = self.source
        check(not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", src), f"{name}: an inline script")
        check("<style" not in src.lower(), f"{name}: an inline <style>")
        check(not re.search(r"\sstyle\s*=", src), f"{name}: an inline style attribute")
        check(not re.search(r"\son[a-z]+\s*=", src), f"{name}: an inline event handler")
        self.check_labels(name)
        status, headers, _ = fetch("GET", self.url(), {"Cookie": self.cookie_header()})
        if status == 200:
            check(headers.get("Content-Security-Policy") == CSP,
                  f"{name}: CSP {headers.get('Content-Security-Policy')!r}")
            check(headers.get("Cache-Control") == "no-store", f"{name}: Cache-Control")
            check(headers.get("X-Frame-Options") == "DENY", f"{name}: X-Frame-Options")
        return self

    def check_labels(self, name):
        """Every visible control has a label (wrapping it, or naming its id); read in one script
        so nothing goes stale while it looks."""
        unlabelled = self.driver.execute_script("""
            return [...document.querySelectorAll('input, select, textarea')]
              .filter(f => !['hidden', 'submit', 'button'].includes(f.type))
              .filter(f => !f.closest('label') &&
                           !(f.id && document.querySelector(`label[for="${f.id}"]`)))
              .map(f => f.name);
        """)
        check(not unlabelled, f"{name}: inputs without a label: {unlabelled}")

    def fill(self, **fields):
        for name, value in fields.items():
            el = self.driver.find_element(By.NAME, name)
            el.clear()
            el.send_keys(value)
        return self

    def submit(self, form_action):
        """Submits the form whose action ends with `form_action` and waits for the next page."""
        form = self.driver.find_element(By.CSS_SELECTOR, f"form[action$='{form_action}']")
        self.click_and_wait(form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        return self

    def click_and_wait(self, element):
        """Clicks and waits until another document has loaded (the old one carries a mark)."""
        self.driver.execute_script("window.__ghBefore = true")
        element.click()

        def next_page_loaded(driver):
            try:
                return driver.execute_script(
                    "return window.__ghBefore === undefined && document.readyState === 'complete'")
            except WebDriverException:
                return False  # between documents
        WebDriverWait(self.driver, 15).until(next_page_loaded)

    def notice(self):
        found = self.driver.find_elements(By.ID, "notice")
        return found[0].text if found else ""

    def no_alert(self):
        try:
            self.driver.switch_to.alert
        except NoAlertPresentException:
            return True
        return False


# ---------------------------------------------------------------------------------------------
# An attacker's page on another origin


def serve_attacker(page_html):
    """Serves `page_html` at / on 127.0.0.1 and localhost, another port: (port, stop)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = page_html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1], srv.shutdown


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
    copy = owner.driver.find_element(By.CSS_SELECTOR, "button[data-copy=new-key]")
    check(copy.is_displayed(), "the copy button shows where script runs")
    owner.page("keys-created")
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
    owner.page("members-invited")
    owner.go(f"/console/orgs/{org}/members")
    token = link.split("token=", 1)[1]
    check(token not in owner.source, "the invitation token appears again")
    check(INVITEE in owner.source, "open invitation listed")

    step("invitation accept: a new account, then sign in")
    bob = Console(server, shots, "invitee")
    browsers.append(bob)
    bob.go(link).page("invitation")
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
    check(not nojs.driver.find_element(By.CSS_SELECTOR, "button[data-copy=new-key]").is_displayed(),
          "a copy button that cannot work is shown")
    nojs.page("nojs-key")
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

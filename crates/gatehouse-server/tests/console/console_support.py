"""What the console's browser test stands on: a fresh database, `gatehouse serve` on port 0,
plain HTTP beside the browser, headless Chromium under Selenium with the checks every page
gets, and an attacker's page on another origin. The walk itself is console_e2e.py."""

import http.server
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

# Values shown once (new API keys, invitation tokens) and secret values: no page may hold them
# except the one answer that shows them.
NEVER_AGAIN = set()


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
    def __init__(self, binary, db, workdir, extra_env=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
        env.update({
            "GATEHOUSE_DATABASE_URL": db.url,
            "GATEHOUSE_ARGON2": "m=1024,t=1,p=1",
            "GATEHOUSE_RATE_LIMIT_AUTH": "100000/1m",
            "GATEHOUSE_RATE_LIMIT_API": "100000/1m",
            "GATEHOUSE_LOCKOUT": "1000/15m",
        })
        env.update(extra_env or {})
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

    def page(self, name, reveals=()):
        """The checks of every console page, and its screenshot. `reveals`: the shown-once
        values this page is the one answer allowed to hold."""
        self.count += 1
        path = os.path.join(self.shots, f"{self.who}-{self.count:02d}-{name}.png")
        self.driver.save_screenshot(path)
        src = self.source
        for value in NEVER_AGAIN - set(reveals):
            check(value not in src, f"{name}: a shown-once or secret value is on the page")
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

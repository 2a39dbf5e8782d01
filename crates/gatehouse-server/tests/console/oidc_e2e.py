#!/usr/bin/env python3
"""Sign-in with an OpenID provider in Debian's Chromium, once (SPEC §17): the console's
provider button, the real provider's (npm oidc-provider) login and consent pages on another
site, the callback, and the next page signed in, with the session cookie SameSite=Strict (the
callback's meta refresh is what makes a Strict cookie go with the next request).

    oidc_e2e.py --bin target/debug/gatehouse --tools target/tools/oidc --shots DIR
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from console_support import Console, Database, Failure, Server, check

HERE = os.path.dirname(os.path.abspath(__file__))
PROVIDER = os.path.join(HERE, "..", "api", "support", "oidc_provider.mjs")
SECRET = "a client secret for the browser test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_provider(port, redirect_uri, tools):
    proc = subprocess.Popen(["node", PROVIDER, str(port), "gatehouse", SECRET, redirect_uri, tools],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    check(line.startswith("listening"), f"the provider did not start: {line!r}")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc


def run(binary, tools, shots):
    workdir = tempfile.mkdtemp(prefix="gh-oidc-")
    db = Database("sqlite", workdir)
    op_port = free_port()
    config = os.path.join(workdir, "gatehouse.toml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f'[[oidc.providers]]\nid = "demo"\nissuer = "http://127.0.0.1:{op_port}"\n'
                f'client_id = "gatehouse"\nclient_secret_env = "GATEHOUSE_OIDC_DEMO_SECRET"\n')
    server = Server(binary, db, workdir, extra_env={
        "GATEHOUSE_CONFIG": config,
        "GATEHOUSE_OIDC_DEMO_SECRET": SECRET,
        "GATEHOUSE_OUTBOUND_ALLOW": "127.0.0.1/32",
        "GATEHOUSE_SIGNUP": "open",
        "GATEHOUSE_SESSION_SAMESITE": "strict",
    })
    provider = start_provider(op_port, f"{server.base}/v1/auth/oidc/demo/callback", tools)
    browser = None
    try:
        browser = Console(server, shots, "oidc")
        browser.go("/console/login?return_to=%2Fconsole%2Faccount").page("login-with-provider")
        form = browser.driver.find_element(By.CSS_SELECTOR, "form[action$='/console/oidc/demo/start']")
        browser.click_and_wait(form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        check(browser.url().startswith(f"http://127.0.0.1:{op_port}/"), f"at the provider: {browser.url()}")
        browser.driver.find_element(By.NAME, "login").send_keys("carol")
        browser.driver.find_element(By.NAME, "password").send_keys("anything")
        browser.click_and_wait(browser.driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        # The consent page, then back to gatehouse and (meta refresh) on to the return-to.
        browser.click_and_wait(browser.driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        WebDriverWait(browser.driver, 15).until(lambda d: d.current_url.endswith("/console/account"))
        check("carol@example.com" in browser.source, "the next page is signed in (the Strict cookie went)")
        browser.page("account-after-provider")
        check("Sign-in providers" in browser.source and "demo" in browser.source,
              "the linked provider on my account")
        # The only way in (no password): unlinking is refused in words.
        unlink = browser.driver.find_element(By.CSS_SELECTOR, "form[action$='/unlink']")
        browser.click_and_wait(unlink.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        check("last way to sign in" in browser.notice(), f"unlinking the last way: {browser.notice()!r}")
        cookies = {c["name"]: c for c in browser.driver.get_cookies()}
        check(cookies.get("gatehouse_session", {}).get("sameSite") == "Strict", f"cookies: {cookies}")
    except Exception:
        if browser:
            browser.driver.save_screenshot(os.path.join(shots, "FAILED-oidc.png"))
            print(f"  the browser was at {browser.url()}", flush=True)
        print("  server log (stderr):", *server.stderr_lines[-15:], sep="\n    ", flush=True)
        raise
    finally:
        if browser:
            browser.quit()
        provider.kill()
        server.stop()
        db.drop()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--tools", required=True)
    parser.add_argument("--shots", required=True)
    args = parser.parse_args()
    os.makedirs(args.shots, exist_ok=True)
    try:
        run(args.bin, args.tools, args.shots)
    except Failure as e:
        print(f"FAILED: {e}", flush=True)
        sys.exit(1)
    print("oidc in chromium: all passed", flush=True)


if __name__ == "__main__":
    main()

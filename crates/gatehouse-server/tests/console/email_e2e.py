#!/usr/bin/env python3
"""The console's mailed flows in Debian's Chromium (SPEC §16), against a real SMTP server
(aiosmtpd, in this process): the unverified-address banner and its link, sign-in by an emailed
code (making an account, signup open), and "forgot password" through the reset page. Every page
gets the console's checks (CSP, no inline script, labels).

    email_e2e.py --bin target/debug/gatehouse --shots DIR
"""

import argparse
import email
import email.policy
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time

from aiosmtpd.controller import Controller
from selenium.webdriver.common.by import By

from console_support import Console, Database, Failure, Server, check, fetch

PASSWORD = "correct horse battery staple"
OWNER = "owner@example.com"


class Sink:
    def __init__(self):
        self.mails = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        self.mails.append({"to": list(envelope.rcpt_tos), "subject": str(message["subject"]),
                           "body": body.get_content() if body is not None else ""})
        return "250 OK"

    def wait_for(self, to):
        deadline = time.time() + 15
        while time.time() < deadline:
            for m in self.mails:
                if to in m["to"]:
                    return m
            time.sleep(0.05)
        raise Failure(f"no mail to {to}: {self.mails}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def link_path(mail):
    link = re.search(r"https?://\S+", mail["body"]).group(0)
    return link[link.index("/console/"):]


def run(binary, shots):
    workdir = tempfile.mkdtemp(prefix="gh-email-")
    db = Database("sqlite", workdir)
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    server = Server(binary, db, workdir, extra_env={
        "GATEHOUSE_SMTP_URL": f"smtp+insecure://127.0.0.1:{port}",
        "GATEHOUSE_SMTP_FROM": "gatehouse@example.com",
        "GATEHOUSE_SIGNUP": "open",
    })
    b = None
    try:
        b = Console(server, shots, "email")
        print("== the banner offers a verification link; its page confirms with one POST", flush=True)
        b.go(server.setup_link)
        b.fill(email=OWNER, password=PASSWORD, org_name="Acme").submit("/console/setup")
        check(b.driver.find_elements(By.ID, "verify-banner"), "the unverified banner")
        b.page("banner")
        b.submit("/console/account/verify-email/send")
        check("on its way" in b.notice(), f"sent: {b.notice()!r}")
        path = link_path(sink.wait_for(OWNER))
        check(path.startswith("/console/verify-email?token="), path)
        b.go(path).page("verify-link")
        b.submit("/console/verify-email")
        check("confirmed" in b.notice(), f"confirmed: {b.notice()!r}")
        b.go("/console/orgs")
        check(not b.driver.find_elements(By.ID, "verify-banner"), "the banner is gone")

        print("== sign in by an emailed code (a new address: signup is open)", flush=True)
        b.submit("/console/logout")
        b.go("/console/login")
        b.driver.find_element(By.LINK_TEXT, "Mail me a sign-in code instead").click()
        b.page("email-code")
        b.fill(email="newcomer@example.com").submit("/console/email-code")
        b.page("email-code-sent")
        code = re.search(r"\b\d{6}\b", sink.wait_for("newcomer@example.com")["body"]).group(0)
        b.fill(code=code).submit("/console/email-code/verify")
        check(b.url().endswith("/console/orgs"), f"signed in by code: {b.url()}")
        check("newcomer@example.com" in b.source, "the header names the newcomer")

        print("== forgot password: the mailed link's form sets a new one", flush=True)
        b.submit("/console/logout")
        status, _, body = fetch("POST", f"{server.base}/v1/auth/signup",
                                {"Content-Type": "application/json", "Origin": server.base},
                                json.dumps({"email": "forgetful@example.com", "password": PASSWORD}))
        check(status == 201, f"signup: {status} {body}")
        b.go("/console/login")
        b.driver.find_element(By.LINK_TEXT, "Forgot password?").click()
        b.page("forgot")
        b.fill(email="forgetful@example.com").submit("/console/forgot-password")
        check("on its way" in b.notice(), f"forgot: {b.notice()!r}")
        path = link_path(sink.wait_for("forgetful@example.com"))
        check(path.startswith("/console/reset-password?token="), path)
        b.go(path).page("reset")
        new_password = "an entirely new passphrase"
        b.fill(new_password=new_password).submit("/console/reset-password")
        check("password is changed" in b.notice(), f"after the reset: {b.notice()!r}")
        b.fill(email="forgetful@example.com", password=new_password).submit("/console/login")
        check(b.url().endswith("/console/orgs"), f"the new password signs in: {b.url()}")
    except Exception:
        if b:
            b.driver.save_screenshot(os.path.join(shots, "FAILED-email.png"))
            print(f"  the browser was at {b.url()}: {b.notice()!r}", flush=True)
        print("  server log (stderr):", *server.stderr_lines[-15:], sep="\n    ", flush=True)
        raise
    finally:
        if b:
            b.quit()
        controller.stop()
        server.stop()
        db.drop()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--shots", required=True)
    args = parser.parse_args()
    os.makedirs(args.shots, exist_ok=True)
    try:
        run(args.bin, args.shots)
    except Failure as e:
        print(f"FAILED: {e}", flush=True)
        sys.exit(1)
    print("mail flows in chromium: all passed", flush=True)


if __name__ == "__main__":
    main()

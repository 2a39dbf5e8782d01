#!/usr/bin/env python3
"""A real SMTP server for the tests (aiosmtpd) on a free loopback port: every message it
receives is appended, as one JSON line {to, from, subject, body}, to the file named by argv[1].
Prints "port N" once it listens."""

import email
import email.policy
import json
import socket
import sys
import time

from aiosmtpd.controller import Controller

OUT = sys.argv[1]


class Sink:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        record = {
            "to": list(envelope.rcpt_tos),
            "from": envelope.mail_from,
            "subject": str(message["subject"]),
            "body": body.get_content() if body is not None else "",
        }
        with open(OUT, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"port {port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()

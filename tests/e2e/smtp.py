"""A real SMTP server for end-to-end tests: tests/unit/smtp_servers.py
(Debian's aiosmtpd, or the small raw server for CHUNKING and dropped
connections), run under /usr/bin/python3 in its own process, storing every
message it accepts as DIR/msg-NNN.eml."""
import email
import email.policy
import glob
import os
import subprocess
import time

from harness import ROOT, wait_for


class SmtpServer:
    def __init__(self, directory, kind="aiosmtpd", args=(), port=None):
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        cmd = ["/usr/bin/python3", os.path.join(ROOT, "tests", "unit", "smtp_servers.py"), kind,
               "--dir", self.dir] + list(args)
        if port:
            cmd += ["--port", str(port)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "ready", "smtp server did not start: %s" % line
        self.port = int(line[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def messages(self):
        """Every accepted message, parsed by Python's email package."""
        out = []
        for p in sorted(glob.glob(os.path.join(self.dir, "msg-*.eml"))):
            with open(p, "rb") as f:
                out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
        return out

    def raw(self):
        out = []
        for p in sorted(glob.glob(os.path.join(self.dir, "msg-*.eml"))):
            with open(p, "rb") as f:
                out.append(f.read())
        return out

    def count(self):
        """How many messages were accepted: len(raw()) without reading them
        (a poll of raw() read every message again, 20 times a second)."""
        return len(glob.glob(os.path.join(self.dir, "msg-*.eml")))

    def wait_messages(self, n, timeout=30):
        wait_for(lambda: self.count() >= n, timeout, what="%d messages at the SMTP server" % n)
        return self.messages()

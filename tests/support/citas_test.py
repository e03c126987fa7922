"""Shared pieces of the Python end-to-end tests (standard library only): the pass/fail counter, the
loopback port helpers and the SMTP sink's mailbox. A test puts tests/support on sys.path and imports what it uses:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
    from citas_test import check, free_port, wait_port, finish
"""
import email
import email.policy
import os
import re
import socket
import sys
import time

_counts = {"passed": 0, "failed": 0}


def check(desc, cond):
    """Counts one check; prints desc on stderr when cond is false. Returns cond."""
    if cond:
        _counts["passed"] += 1
    else:
        _counts["failed"] += 1
        print("FAIL: " + desc, file=sys.stderr, flush=True)
    return cond


def failed():
    """The number of failed checks so far."""
    return _counts["failed"]


def finish(name):
    """Prints "<name>: N passed, N failed"; returns the exit code (0 only when something passed and nothing failed)."""
    print("%s: %d passed, %d failed" % (name, _counts["passed"], _counts["failed"]), flush=True)
    return 0 if _counts["failed"] == 0 and _counts["passed"] > 0 else 1


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=20.0):
    """True once something accepts connections on 127.0.0.1:port, False after timeout seconds."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Mailbox:
    """The messages the SMTP sink (tests/mail's smtp_sink --dir) wrote to a directory, one .eml file each."""

    def __init__(self, directory):
        self.dir = directory

    def messages(self, to, kind):
        """The messages to that address (case-insensitive) whose X-Citas-Kind is kind, oldest first."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if not name.endswith(".eml"):
                continue
            with open(os.path.join(self.dir, name), "rb") as f:
                msg = email.message_from_bytes(f.read(), policy=email.policy.default)
            if to.lower() in str(msg.get("To", "")).lower() and msg.get("X-Citas-Kind", "") == kind:
                out.append(msg)
        return out

    def wait(self, to, kind, count, timeout=20.0):
        """The count-th message of that kind to that address (waits for it), or None after timeout seconds."""
        end = time.time() + timeout
        while time.time() < end:
            msgs = self.messages(to, kind)
            if len(msgs) >= count:
                return msgs[count - 1]
            time.sleep(0.1)
        return None

    def wait_code(self, to, kind, count, timeout=15.0):
        """The six-digit code of the count-th message of that kind to that address (waits for it), or None."""
        msg = self.wait(to, kind, count, timeout)
        if msg is None:
            return None
        m = re.search(r"^\s+(\d{6})\s*$", msg.get_body(preferencelist=("plain",)).get_content(), re.M)
        return m.group(1) if m else None

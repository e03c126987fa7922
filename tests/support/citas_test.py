"""Shared pieces of the Python end-to-end tests (standard library only): the pass/fail counter and the
loopback port helpers. A test puts tests/support on sys.path and imports what it uses:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
    from citas_test import check, free_port, wait_port, finish
"""
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

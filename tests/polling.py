"""Waiting for something to happen: polling with a deadline (never a bare sleep and hope)."""

from __future__ import annotations

import time

DEADLINE = 30.0  # seconds: generous, as a loaded CI machine is slow; a pass returns at once


def wait_until(cond, what: str, timeout: float = DEADLINE, interval: float = 0.005):
    """Return ``cond()``'s first true value; fail the test with ``what`` when the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)

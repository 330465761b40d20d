"""Helper: does a native call release the GIL while it works?"""

from __future__ import annotations

import threading
import time


def python_keeps_running(work, min_ticks: int = 50) -> int:
    """Run ``work`` in a thread while this thread counts how often it gets to run Python; assert
    it did at least ``min_ticks`` times (a call that held the GIL throughout would allow ~0)."""
    done = threading.Event()

    def run():
        try:
            work()
        finally:
            done.set()

    t = threading.Thread(target=run)
    ticks = 0
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0)
    t.join()
    assert ticks >= min_ticks, ticks
    return ticks

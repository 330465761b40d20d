"""ordered_map_pull (unpack from a pipe: each worker reads its next group of blocks, then
decrypts it): results in input order, at most ``window`` items taken ahead of the consumer,
errors at their place (fn's even while the input is stuck), and a consumer that stops early
stopping the workers without waiting for one stuck in a read of a real pipe."""

from __future__ import annotations

import os
import threading

import pytest

from polling import wait_until
from qeltrix.errors import TruncatedError
from qeltrix.pipeline import ordered_map_pull


def workers_alive() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("qeltrix-pull-") and t.is_alive()}


def test_input_order_whatever_order_the_workers_finish_in():
    """Item 2k waits until item 2k+1 is done: each pair finishes in reverse."""
    done = [threading.Event() for _ in range(41)]

    def fn(i):
        if i % 2 == 0:
            assert done[i + 1].wait(30), f"item {i + 1} never ran"
        done[i].set()
        return i * i

    assert list(ordered_map_pull(fn, range(40), workers=2, window=4)) == [i * i for i in range(40)]
    assert not workers_alive()


@pytest.mark.parametrize("workers", [1, 3])
def test_plain_order_and_empty_input(workers):
    assert list(ordered_map_pull(str, range(50), workers)) == [str(i) for i in range(50)]
    assert list(ordered_map_pull(str, [], workers)) == []
    assert not workers_alive()


def test_items_are_taken_one_at_a_time_and_at_most_a_window_ahead():
    taking, taken, overlap = threading.Lock(), [], []

    def items():
        for i in range(60):
            if not taking.acquire(blocking=False):
                overlap.append(i)
            else:
                taking.release()
            taken.append(i)
            yield i

    got = []
    for r in ordered_map_pull(lambda i: i, items(), workers=3, window=5):
        assert len(taken) <= len(got) + 1 + 5  # consumed, this one, the window
        got.append(r)
    assert got == list(range(60)) and not overlap


def test_an_error_of_fn_is_reported_while_taking_the_next_item_is_stuck():
    """Item 3 fails while the input is stuck (a stalled pipe): the consumer gets 0, 1, 2, then
    item 3's error, without waiting for the input to go on."""
    class Boom(Exception):
        pass

    stuck, release = threading.Event(), threading.Event()

    def items():
        yield from range(5)
        stuck.set()
        assert release.wait(60)  # set only once the error reached the consumer
        yield from range(5, 10)

    def fn(i):
        if i == 3:
            assert stuck.wait(30)  # the error comes while another worker waits in the input
            raise Boom(i)
        return i

    got = []
    try:
        with pytest.raises(Boom):
            for r in ordered_map_pull(fn, items(), workers=2, window=8):
                got.append(r)
    finally:
        release.set()
    assert got == [0, 1, 2]
    wait_until(lambda: not workers_alive(), "the workers leaving")


def test_the_inputs_error_comes_after_what_it_made():
    def items():
        yield from range(7)
        raise TruncatedError("the stream ends inside the block 7")

    got = []
    with pytest.raises(TruncatedError, match="block 7"):
        for r in ordered_map_pull(lambda i: -i, items(), workers=2, window=3):
            got.append(r)
    assert got == [0, -1, -2, -3, -4, -5, -6]
    assert not workers_alive()  # the input ended: every worker was waited for


def test_closing_early_stops_the_workers_at_their_next_item():
    taken = []

    def items():
        for i in range(10_000):
            taken.append(i)
            yield i

    results = ordered_map_pull(lambda i: i, items(), workers=2, window=4)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    results.close()
    wait_until(lambda: not workers_alive(), "the workers leaving")
    assert len(taken) <= 3 + 4  # consumed, the window


def test_an_early_stop_does_not_wait_for_a_worker_stuck_in_a_read():
    """A real pipe whose writer stays open and silent: closing the consumer returns at once (it
    does not wait for the read); once the writer closes the pipe, the workers leave."""
    r, w = os.pipe()
    os.write(w, b"x" * 10)

    def chunks():
        with os.fdopen(r, "rb", buffering=0) as f:
            while b := f.read(10):
                yield b

    results = ordered_map_pull(bytes, chunks(), workers=2, window=3)
    assert next(results) == b"x" * 10
    results.close()  # a worker is blocked in read(): not waited for
    os.close(w)  # EOF: the read returns, the worker sees the stop (or the end) and leaves
    wait_until(lambda: not workers_alive(), "the workers leaving")


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers must be at least 1"):
        next(ordered_map_pull(str, [1], 0))


def test_an_error_waits_for_the_workers_inside_native_code_before_the_exit():
    """Item 0 fails while item 1 hashes in native code with the GIL released; the process exits
    right after the error. The workers inside fn were waited for: a clean exit (a thread still in
    native code when the interpreter exits aborts: "terminate called without an active
    exception", exit -6)."""
    import subprocess
    import sys

    code = """if True:
        import sys, threading
        from qeltrix.crypto import sha256_many
        from qeltrix.pipeline import ordered_map_pull
        started = threading.Event()
        big = [bytes(4 << 20)] * 2

        def fn(i):
            if i == 0:
                assert started.wait(30)
                raise ValueError("item 0")
            started.set()
            for _ in range(40):
                sha256_many(big)
            return i

        try:
            list(ordered_map_pull(fn, range(4), workers=2, window=3))
        except ValueError:
            sys.exit(7)
    """
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert p.returncode == 7, p.stderr.decode()

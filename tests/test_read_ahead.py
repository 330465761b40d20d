"""read_ahead (the thread that reads a pipe while unpack's workers decrypt): items in order, at
most ``depth`` made ahead of the consumer, the producer's error at its place, and a consumer that
stops early stopping the producer, which never blocks again (also when it is stuck in a read of
a real pipe that nobody writes to)."""

from __future__ import annotations

import os
import threading

import pytest

from polling import wait_until
from qeltrix.errors import TruncatedError
from qeltrix.pipeline import read_ahead


def producers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "qeltrix-read-ahead" and t.is_alive()}


@pytest.mark.parametrize("depth", [1, 3])
def test_items_in_order_and_at_most_depth_ahead(depth):
    taken = []

    def items():
        for i in range(50):
            taken.append(i)
            yield i

    got = []
    for x in read_ahead(items(), depth):
        # made so far: the ones consumed, ``depth`` waiting, and one made and waiting for room
        assert len(taken) <= len(got) + 1 + depth + 1
        got.append(x)
    assert got == list(range(50))
    assert not producers()


def test_empty_input():
    assert list(read_ahead(iter([]))) == []


def test_the_producers_error_comes_after_what_it_made():
    def items():
        yield from range(5)
        raise TruncatedError("the stream ends inside the block 5")

    got = []
    with pytest.raises(TruncatedError, match="block 5"):
        for x in read_ahead(items(), 2):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]
    assert not producers()


def test_an_early_stop_stops_the_producer_and_closes_its_input():
    closed = threading.Event()

    def items():
        try:
            for i in range(10_000):
                yield i
        finally:
            closed.set()

    it = read_ahead(items(), 1)
    assert next(it) == 0
    wait_until(lambda: len(producers()) == 1, "the producer waiting for room")
    it.close()  # the producer was waiting to put an item: it gets room, then sees the stop
    wait_until(closed.is_set, "the producer closing its input")
    wait_until(lambda: not producers(), "the producer's thread ending")


def test_a_producer_error_after_the_consumer_left_is_not_raised_anywhere(recwarn):
    """The consumer stops while the producer is in the middle of an item; the producer then fails
    (its source was closed under it): no unhandled exception in the thread, no hang."""
    gate, inside = threading.Event(), threading.Event()

    def items():
        yield 0
        inside.set()
        assert gate.wait(30)
        raise OSError("read of a closed source")

    it = read_ahead(items(), 1)
    assert next(it) == 0
    assert inside.wait(30)
    it.close()
    gate.set()
    wait_until(lambda: not producers(), "the producer's thread ending")
    assert not [w for w in recwarn if "thread" in str(w.message).lower()]


def test_an_early_stop_does_not_wait_for_a_producer_stuck_in_a_read():
    """A real pipe whose writer stays open and silent: closing the consumer returns at once (it
    does not wait for the read); once the writer closes the pipe, the producer's thread ends."""
    r, w = os.pipe()
    os.write(w, b"x" * 10)

    def chunks():
        with os.fdopen(r, "rb", buffering=0) as f:
            while True:
                b = f.read(10)
                if not b:
                    return
                yield b

    it = read_ahead(chunks(), 1)
    assert next(it) == b"x" * 10
    wait_until(lambda: len(producers()) == 1, "the producer")
    it.close()  # the producer is blocked in read(): not waited for
    os.close(w)  # EOF: the read returns, the producer sees the stop (or the end) and leaves
    wait_until(lambda: not producers(), "the producer's thread ending")

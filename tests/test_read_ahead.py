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
from qeltrix.pipeline import ordered_map_ahead, read_ahead


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


# ordered_map_ahead: ordered_map whose items are taken by read_ahead's thread.

def pool_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("qeltrix_") and t.is_alive()}


def all_ended(before: set) -> bool:
    return not producers() and not (pool_threads() - before)


def test_map_ahead_keeps_input_order_whatever_order_the_workers_finish_in():
    """Item 2k waits until item 2k+1 is done: each pair finishes in reverse."""
    before = pool_threads()
    done = [threading.Event() for _ in range(41)]

    def fn(i):
        if i % 2 == 0:
            assert done[i + 1].wait(30), f"item {i + 1} never ran"
        done[i].set()
        return i * i

    assert list(ordered_map_ahead(fn, range(40), workers=2, window=4)) == [i * i for i in range(40)]
    wait_until(lambda: all_ended(before), "the threads ending")


def test_map_ahead_reports_an_error_of_fn_while_taking_the_next_item_blocks():
    """Item 3 fails while the input is stuck (a stalled pipe): the consumer gets 0, 1, 2, then
    item 3's error, without waiting for the input to go on."""
    class Boom(Exception):
        pass

    before = pool_threads()
    stuck, release = threading.Event(), threading.Event()

    def items():
        yield from range(5)
        stuck.set()
        assert release.wait(60)  # never set before the error reached the consumer
        yield from range(5, 10)

    def fn(i):
        if i == 3:
            raise Boom(i)
        return i

    got = []
    try:
        with pytest.raises(Boom):
            for r in ordered_map_ahead(fn, items(), workers=2, window=8):
                got.append(r)
    finally:
        release.set()
    assert got == [0, 1, 2] and stuck.is_set()
    wait_until(lambda: all_ended(before), "the threads ending")


def test_map_ahead_input_error_comes_after_what_it_made():
    def items():
        yield from range(7)
        raise TruncatedError("cut short")

    got = []
    with pytest.raises(TruncatedError, match="cut short"):
        for r in ordered_map_ahead(lambda i: -i, items(), workers=2, window=3):
            got.append(r)
    assert got == [0, -1, -2, -3, -4, -5, -6]


def test_map_ahead_closed_early_shuts_everything_down():
    before = pool_threads()
    taken = []

    def items():
        for i in range(10_000):
            taken.append(i)
            yield i

    results = ordered_map_ahead(lambda i: i, items(), workers=2, window=4)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    results.close()
    wait_until(lambda: all_ended(before), "the threads ending")
    assert len(taken) <= 3 + 4 + 1  # consumed, the window, the one being taken


def test_map_ahead_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers must be at least 1"):
        next(ordered_map_ahead(str, [1], 0))


def test_a_producer_waiting_for_room_takes_no_more_items_once_the_consumer_left():
    taken = []

    def items():
        for i in range(100):
            taken.append(i)
            yield i

    it = read_ahead(items(), 1)
    assert next(it) == 0
    # 0 consumed, 1 queued, 2 made and waiting for room
    wait_until(lambda: len(taken) == 3, "the producer filling the queue")
    it.close()
    wait_until(lambda: not producers(), "the producer's thread ending")
    assert taken == [0, 1, 2]

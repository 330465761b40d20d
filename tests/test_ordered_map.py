"""ordered_map (the parallel map under pack, unpack and the readers): results in input order
whatever order the workers finish in, at most ``window`` items taken ahead, and errors (the
function's or the input's) reaching the consumer at their place, with the pool shut down."""

from __future__ import annotations

import os
import threading

import pytest

from qeltrix.pipeline import ordered_map

TIMEOUT = 30  # seconds a worker waits for its neighbour; a pass never comes near it


def pool_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("qeltrix_")}


def test_results_come_in_input_order_when_workers_finish_in_reverse():
    """In each group of four, item k waits until item k+1 is done: they finish 3, 2, 1, 0."""
    workers, n = 4, 16
    done = [threading.Event() for _ in range(n + 1)]
    finished = []

    def fn(i):
        if i % workers != workers - 1:
            assert done[i + 1].wait(TIMEOUT), f"item {i + 1} never ran"
        finished.append(i)
        done[i].set()
        return i * i

    assert list(ordered_map(fn, range(n), workers, window=workers)) == [i * i for i in range(n)]
    assert finished != sorted(finished)  # the workers did finish out of order
    assert finished[:workers] == [3, 2, 1, 0]


@pytest.mark.parametrize("workers", [1, 3])
def test_plain_order_and_empty_input(workers):
    assert list(ordered_map(str, range(50), workers)) == [str(i) for i in range(50)]
    assert list(ordered_map(str, [], workers)) == []


def test_input_is_taken_at_most_a_window_ahead():
    taken = []

    def items():
        for i in range(100):
            taken.append(i)
            yield i

    results = ordered_map(lambda i: i, items(), workers=2, window=3)
    assert next(results) == 0
    assert len(taken) == 3  # the window, not the whole input
    assert next(results) == 1 and len(taken) == 4
    results.close()
    assert len(taken) == 4


def test_an_error_in_fn_reaches_the_consumer_at_its_place():
    class Boom(Exception):
        pass

    def fn(i):
        if i == 5:
            raise Boom(i)
        return i

    got = []
    before = pool_threads()
    with pytest.raises(Boom) as exc:
        for r in ordered_map(fn, range(20), workers=3):
            got.append(r)
    assert got == [0, 1, 2, 3, 4] and exc.value.args == (5,)
    assert not (pool_threads() - before), "the pool's threads outlived the error"


def test_an_error_in_the_input_comes_after_what_it_produced():
    """A producer that fails (a stream cut short): what it produced still comes out, in order,
    then its error."""

    def items():
        yield from range(7)
        raise EOFError("cut short")

    got = []
    with pytest.raises(EOFError, match="cut short"):
        for r in ordered_map(lambda i: -i, items(), workers=4, window=16):
            got.append(r)
    assert got == [0, -1, -2, -3, -4, -5, -6]


def test_closing_early_cancels_and_shuts_the_pool_down():
    started = []
    gate = threading.Event()

    def fn(i):
        started.append(i)
        gate.wait(TIMEOUT)
        return i

    before = pool_threads()
    results = ordered_map(fn, range(1000), workers=2, window=4)
    threading.Timer(0.0, gate.set).start()  # lets the first items finish
    assert next(results) == 0
    results.close()  # the remaining pending items are cancelled, the threads joined
    assert not (pool_threads() - before)
    assert len(started) <= 4 + 1  # no more than the window (and the one taken after) ran


def test_workers_must_be_positive():
    for workers in (0, -1):
        with pytest.raises(ValueError, match="workers must be at least 1"):
            next(ordered_map(str, [1], workers))



@pytest.mark.parametrize("stream", [False, True], ids=["seekable", "stream"])
def test_unpack_to_a_pipe_stops_at_a_damaged_block(stream):
    """Through the public API: what reaches a pipe before the error is a prefix of the plaintext.
    (An error of fn once drained the window first: blocks after the damaged one were written,
    skipping it, before the error.)"""
    import io

    import qeltrix as qltx
    from qeltrix.inspect import index_entries
    from speccheck import spec_check
    from streams import Unseekable, UnseekableSink

    mk = qltx.random_master_key()
    data = os.urandom(40 * 4096)
    out = io.BytesIO()
    qltx.pack(data, out, mk, block_size=4096)
    blob = bytearray(out.getvalue())
    entry = list(index_entries(spec_check(bytes(blob))))[5]
    blob[entry.ofs_block + entry.len_block - 50] ^= 1  # a byte of block 5's sealed payload
    sink = UnseekableSink()
    with pytest.raises(qltx.DamagedError, match="block 5"):
        qltx.unpack(Unseekable(bytes(blob)) if stream else bytes(blob), sink, mk, workers=4)
    got = sink.getvalue()
    assert data.startswith(got) and len(got) <= 5 * 4096

"""The encoding loop: decoding workers sized to the machine, host work run one chunk ahead."""

import threading

import numpy as np
import pytest

from embedkit.encoders.fake import FakeEncoder
from embedkit.extract.loop import WORKER_MEMORY, EncodingLoop, available_cpus, default_workers, run_ahead


def test_decoding_workers_come_from_the_cores_and_the_memory():
    assert default_workers(cpus=16, memory=64 << 30) == 16  # no cap at 4 on a 16-core GPU machine
    assert default_workers(cpus=64, memory=64 << 30) == 64
    assert default_workers(cpus=16, memory=4 * WORKER_MEMORY) == 2  # half the memory, 512 MB each
    assert default_workers(cpus=2, memory=None) == 2  # memory unknown: one per CPU
    assert default_workers(cpus=4, memory=0) == 1  # never 0 by default
    assert 1 <= default_workers() <= available_cpus()


def test_run_ahead_keeps_order_and_prepares_the_next_item_while_this_one_is_used():
    started = {i: threading.Event() for i in range(4)}

    def prepare(i):
        started[i].set()
        return i * 10

    seen = []
    for value in run_ahead(prepare, range(4)):
        i = value // 10
        if i + 1 < 4:  # the next one is under way before the caller is done with this one
            assert started[i + 1].wait(5)
        seen.append(value)
    assert seen == [0, 10, 20, 30]
    assert list(run_ahead(prepare, range(3), ahead=False)) == [0, 10, 20]
    assert list(run_ahead(prepare, [])) == []


def test_run_ahead_raises_what_the_preparation_raised():
    def prepare(i):
        if i == 2:
            raise ValueError("bad item 2")
        return i

    got = []
    with pytest.raises(ValueError, match="bad item 2"):
        for v in run_ahead(prepare, range(5)):
            got.append(v)
    assert got == [0, 1]


@pytest.mark.parametrize("overlap", [False, True])
def test_texts_give_the_same_vectors_with_and_without_overlap(overlap):
    enc = FakeEncoder(dim=8)
    texts = [f"text {i}" for i in range(37)]
    loop = EncodingLoop(enc, batch_size=2, overlap=overlap)  # chunks of 16: three encode calls

    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    bar = Bar()
    out = loop.texts(texts, [(t, None) for t in texts], bar)
    assert bar.n == 37 and np.array_equal(out, enc.encode(texts))

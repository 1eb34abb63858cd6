"""The window plan: which items of each window an extraction still has to encode, counted once each."""

from __future__ import annotations

import numpy as np

from embedkit.cache.keys import GrowingKeySet
from embedkit.data.items import Items


class WindowPlan:
    """What one extraction has seen so far, so that each window is planned against the cache and the
    windows before it: an item cached before the run, or handed on in an earlier window, is neither
    encoded nor counted again. 16 bytes per such key (see :class:`GrowingKeySet`)."""

    def __init__(self, writer, result):
        self.writer = writer
        self.result = result
        self.counted = GrowingKeySet()  # keys cached before the run that an earlier window counted
        self.elsewhere = GrowingKeySet()  # keys not in ``writer`` that an earlier window handed on:
        # queued for Ray workers, or images that failed to decode under ``skip_bad``

    def __call__(self, items: Items):
        """``(keys, image_keys, todo, todo_img)`` of one window: the rows of ``items.texts`` (longest
        first, so batches pad little) and of ``items.images`` that neither the cache nor an earlier
        window holds. Counts the window into the result."""
        r = self.result
        keys, image_keys = items.key_array(), items.image_key_array()
        todo_of, new = [], []
        for k in (keys, image_keys):
            before = self.writer.cached_before(k)
            again = before & self.counted.contains(k)  # counted by an earlier window
            held = before | self.writer.written(k) | self.elsewhere.contains(k)
            again |= held & ~before  # written or handed on by an earlier window
            first_seen = before & ~again
            self.counted.add(k[first_seen])
            r.cached_before += int(first_seen.sum())
            new.append(len(k) - int(again.sum()))
            todo_of.append(np.nonzero(~held)[0])
        lengths = np.fromiter(
            (len(items.texts[i]) for i in todo_of[0]), dtype=np.int64, count=len(todo_of[0])
        )
        todo = todo_of[0][np.argsort(-lengths, kind="stable")]
        r.texts += new[0]
        r.images += new[1]
        r.items += new[0] + new[1]
        r.records += items.records
        r.occurrences += items.occurrences
        r.bad_rows += items.bad
        return keys, image_keys, todo, todo_of[1]

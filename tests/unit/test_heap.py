"""The worker gives evicted brands' memory back: malloc_trim after many evictions, not often."""

from __future__ import annotations

import sys

import pytest

from pipeline.stream.heap import HeapTrimmer


def test_trims_once_enough_brands_were_evicted_and_not_more_often_than_the_interval():
    now, calls = [0.0], []
    t = HeapTrimmer(every=1000, min_interval_s=30.0, trim=lambda: calls.append(now[0]), clock=lambda: now[0])
    t.evicted(999)
    assert not t.maybe_trim()
    t.evicted(1)
    assert t.maybe_trim() and calls == [0.0]
    now[0] = 10.0
    t.evicted(5000)
    assert not t.maybe_trim()  # enough brands, too soon
    now[0] = 31.0
    assert t.maybe_trim() and calls == [0.0, 31.0]  # the 5,000 still count
    now[0] = 100.0
    t.evicted(10)
    assert not t.maybe_trim()  # the count started again


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_uses_the_c_librarys_malloc_trim_on_linux():
    t = HeapTrimmer(every=1, min_interval_s=0.0)
    t.evicted(1)
    assert t.trim is not None and t.maybe_trim() and t.trims == 1

"""core.shape.aware_time reads the usual RFC 3339 form without datetime: same float, same refusals."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core import shape

RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def reference(text: str) -> float | None:
    """What an RFC 3339 date-time with an offset means, by ``datetime`` (which alone also takes ISO
    8601's other forms: written out here, separately from the code's own pattern)."""
    if not RFC3339.fullmatch(text):
        return None
    try:
        parsed = datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


# hypothesis draws naive datetimes between naive bounds; each is then made UTC
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)).map(  # noqa: DTZ001
    lambda d: d.replace(tzinfo=UTC))
usual = st.tuples(moments, st.sampled_from(["seconds", "milliseconds", "microseconds"])).map(
    lambda m: m[0].isoformat(timespec=m[1]).replace("+00:00", "Z"))


@settings(max_examples=400)
@given(usual)
def test_the_usual_form_gives_datetimes_float_cold_and_warm(text):
    shape._HOUR_STARTS.clear()
    cold = shape.aware_time(text)
    warm = shape.aware_time(text)  # now from the hour's start learned by the first call
    assert cold == warm == reference(text)
    assert text[:13] in shape._HOUR_STARTS


@settings(max_examples=600)
@given(usual, st.integers(min_value=11, max_value=26), st.sampled_from(list("0956:.-TZz +/٣²x")))
def test_a_damaged_string_is_read_as_datetime_reads_it(text, at, char):
    shape.aware_time(text)  # its hour learned: the fast path is tried on the damaged one
    damaged = (text[:at] + char + text[at + 1:])[:len(text)]
    assert shape.aware_time(damaged) == reference(damaged)


def test_other_forms_and_offsets_go_through_datetime():
    """Each checked with its hour learned (a usual-form string of the same hour read first), so the
    fast path is tried on each and must refuse what is not its form (a 60th second, a missing one)."""
    primed = "2026-03-02T10:15:07.016Z"
    assert shape.aware_time(primed) == reference(primed) and primed[:13] in shape._HOUR_STARTS
    for text in ("2026-03-02T10:15:07.016+00:00", "2026-03-02T11:15:07.016+01:00", "2026-03-02 10:15:07.016Z",
                 "2026-03-02T10:15:07.0160Z", "2026-03-02T10:15:07.016", "2026-03-02T10:15Z", "2026-03-02T10:15:60Z",
                 "2026-03-02T10:60:07Z", "2026-03-02T10:15:60.016Z", "2026-03-02T24:00:00Z", "2026-02-30T10:15:07Z", ""):
        assert shape.aware_time(text) == reference(text), text
    for not_text in (None, 1772446507.016):
        assert shape.aware_time(not_text) is None
    expected = datetime(2026, 3, 2, 10, 15, 7, 16000, tzinfo=UTC).timestamp()
    shape._HOUR_STARTS.clear()
    assert shape.aware_time("2026-03-02T10:15:07.016Z") == expected  # through datetime: learns the hour
    assert shape.aware_time("2026-03-02T10:15:07.016Z") == expected  # read from that hour's start

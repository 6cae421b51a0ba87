"""The ScoredMention schema as a msgspec type: bytes checked and decoded in one pass of C.

``buzzwatch detect`` and the detect agent read ~100,000 scored mentions a second; decoding each
into a dict (orjson) and then testing its fields in Python cost about a third of that time. A
typed decoder does both while it parses, so the usual, valid record arrives with its fields
already checked. What it accepts, the dict path (``records``) accepts with the same values; a
record it refuses goes on to that path, which says why it is wrong (or, for a follower count
beyond 2**63, takes it). tests/unit/test_wire.py checks both directions.

Not compiled with the core (mypyc cannot build a msgspec Struct); the core calls ``SCORED.decode``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from pipeline.core.shape import MAX_TEXT_CHARS

#: msgspec's bound must fit in an int64; orjson reads an integer beyond 2**64 - 1 as a float, which the
#: dict path refuses as a count, and a count between the two is left to the dict path, which takes it.
_I64_MAX = 2**63 - 1


class ScoredWire(msgspec.Struct, gc=False):
    """A ScoredMention's fields (schemas/scored_mention.schema.json); unknown fields are ignored,
    as the dict path ignores them. ``created_at`` stays a string: ``shape.aware_time`` reads it."""

    id: Annotated[str, msgspec.Meta(min_length=1)]
    text: Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)]
    created_at: str
    brand: Annotated[str, msgspec.Meta(min_length=1)]
    negativity: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    sentiment: Literal["negative", "neutral", "positive"]
    lang: str
    author_id: str | None = None
    author_followers: Annotated[int, msgspec.Meta(ge=0, le=_I64_MAX)] | None = None
    url: str | None = None
    source: str | None = None


SCORED = msgspec.json.Decoder(ScoredWire)

"""Which brand a mention is about, from the brands file (YAML).

A brand matches when the text contains one of its keywords (whole words, case-insensitive),
handles (``@name``) or hashtags (``#name``), and none of its exclusions. The file is checked
once at start-up; every problem names the file and the brand.

Example file::

    brands:
      - id: acme
        name: Acme Air
        keywords: [acme air, acmeair]
        handles: ["@acmeair"]
        hashtags: ["#acmefail"]
        exclusions: [acme anvil]
        slack_channel: "#acme-oncall"

>>> b = Brand(id="acme", name="Acme Air", keywords=("acme air",), handles=("@acmeair",))
>>> m = BrandMatcher([b])
>>> m.match("Stuck again on ACME Air flight 12")
['acme']
>>> m.match("thanks @AcmeAir!")
['acme']
>>> m.match("acme's anvil")
[]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import BrandsFileError

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_TOKEN = re.compile(r"[@#]?\w+")


@dataclass(frozen=True, slots=True)
class Brand:
    id: str
    name: str
    keywords: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    exclusions: tuple[str, ...] = ()
    slack_channel: str | None = None


def load_brands(path: str | Path) -> list[Brand]:
    """Read and check a brands file; BrandsFileError names the file and the problem."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except FileNotFoundError:
        raise BrandsFileError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BrandsFileError(path, f"cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise BrandsFileError(path, f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("brands"), list):
        raise BrandsFileError(path, "expected a mapping with a list under 'brands'")
    brands: list[Brand] = []
    seen: set[str] = set()
    for n, entry in enumerate(doc["brands"], start=1):
        where = f"brand #{n}"
        if not isinstance(entry, dict):
            raise BrandsFileError(path, f"{where}: expected a mapping, got {type(entry).__name__}")
        unknown = set(entry) - {"id", "name", "keywords", "handles", "hashtags", "exclusions", "slack_channel"}
        if unknown:
            raise BrandsFileError(path, f"{where}: unknown keys {sorted(unknown)}")
        bid = entry.get("id")
        if not isinstance(bid, str) or not _ID.match(bid):
            raise BrandsFileError(path, f"{where}: 'id' must be lowercase letters, digits, '_', '.', '-' (got {bid!r})")
        where = f"brand {bid!r}"
        if bid in seen:
            raise BrandsFileError(path, f"{where}: duplicate id")
        seen.add(bid)
        lists = {key: _strings(path, where, entry, key) for key in ("keywords", "handles", "hashtags", "exclusions")}
        if not (lists["keywords"] or lists["handles"] or lists["hashtags"]):
            raise BrandsFileError(path, f"{where}: needs at least one keyword, handle or hashtag")
        for h in lists["handles"]:
            if not h.startswith("@"):
                raise BrandsFileError(path, f"{where}: handle {h!r} must start with '@'")
        for h in lists["hashtags"]:
            if not h.startswith("#"):
                raise BrandsFileError(path, f"{where}: hashtag {h!r} must start with '#'")
        name = entry.get("name", bid)
        channel = entry.get("slack_channel")
        if not isinstance(name, str) or (channel is not None and not isinstance(channel, str)):
            raise BrandsFileError(path, f"{where}: 'name' and 'slack_channel' must be strings")
        brands.append(Brand(id=bid, name=name, slack_channel=channel, **lists))
    return brands


def _strings(path: str, where: str, entry: dict[str, Any], key: str) -> tuple[str, ...]:
    value = entry.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise BrandsFileError(path, f"{where}: '{key}' must be a list of non-empty strings")
    return tuple(v.strip().lower() for v in value)


class BrandMatcher:
    """Token lookup: one pass over the text's words, n-grams up to the longest keyword."""

    def __init__(self, brands: list[Brand]) -> None:
        self.brands = {b.id: b for b in brands}
        self._terms: dict[tuple[str, ...], set[str]] = {}
        self._exclusions: dict[tuple[str, ...], set[str]] = {}
        for b in brands:
            for term in (*b.keywords, *b.handles, *b.hashtags):
                self._terms.setdefault(_tokens(term), set()).add(b.id)
            for term in b.exclusions:
                self._exclusions.setdefault(_tokens(term), set()).add(b.id)
        self._longest = max((len(t) for t in (*self._terms, *self._exclusions)), default=1)

    def match(self, text: str) -> list[str]:
        """Ids of the brands the text is about, in brands-file order."""
        words = _tokens(text)
        hits: set[str] = set()
        excluded: set[str] = set()
        for i in range(len(words)):
            for n in range(1, self._longest + 1):
                gram = words[i:i + n]
                if len(gram) < n:
                    break
                hits |= self._terms.get(gram, set())
                excluded |= self._exclusions.get(gram, set())
        return [bid for bid in self.brands if bid in hits and bid not in excluded]


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(text.lower()))

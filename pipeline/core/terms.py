"""What people are saying: the words and hashtags repeated across an incident's negative mentions.

Counted once per mention (a text repeating a word ten times counts once), after dropping URLs,
handles, numbers, short words and common function words in English and French, so what is left
names the complaint ("refund", "#fail", "cancelled").

>>> top_terms(["@acme flight cancelled again #fail", "cancelled AGAIN, no refund #fail",
...            "my flight was cancelled https://t.co/x"])
[('cancelled', 3), ('#fail', 2), ('again', 2), ('flight', 2)]
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_URL = re.compile(r"https?://\S+|www\.\S+")
_TOKEN = re.compile(r"#\w+|@\w+|[^\W\d_][\w'’-]*")
STOPWORDS = frozenset(["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "my", "no", "not", "of", "on", "or", "our", "out", "so", "than", "that", "the", "their", "them", "then", "there", "they", "this", "to", "too", "up", "us", "was", "we", "were", "what", "when", "which", "who", "why", "will", "with", "would", "you", "your", "yours", "am", "all", "any", "about", "after", "also", "been", "being", "get", "got", "le", "la", "les", "un", "une", "des", "du", "de", "et", "est", "en", "que", "qui", "dans", "pour", "pas", "sur", "au", "aux", "avec", "ce", "ces", "cette", "il", "elle", "ils", "elles", "je", "tu", "nous", "vous", "mon", "ma", "mes", "ton", "ta", "tes", "son", "sa", "ses", "leur", "leurs", "ne", "se", "sont", "été", "être", "avoir", "ai", "as", "fait", "plus", "moins", "très", "tout"])


def top_terms(texts: Iterable[str], limit: int = 8, min_count: int = 2,
              exclude: Iterable[str] = ()) -> list[tuple[str, int]]:
    """The ``limit`` most frequent terms found in at least ``min_count`` texts, most frequent first."""
    skip = STOPWORDS | {e.lower() for e in exclude}
    counts: Counter[str] = Counter()
    for text in texts:
        seen = set()
        for tok in _TOKEN.findall(_URL.sub(" ", text.lower())):
            tok = tok.strip("'’-")
            if tok.startswith("@") or len(tok) < 3 or tok in skip:
                continue
            seen.add(tok)
        counts.update(seen)
    ranked = sorted((t for t in counts.items() if t[1] >= min_count), key=lambda t: (-t[1], t[0]))
    return ranked[:limit]

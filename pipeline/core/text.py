"""Social-media text -> tokens and features for the scorer (pure, no model state).

Normalisation keeps what carries sentiment on social media and drops what only identifies:
@mentions and URLs become placeholder tokens (``xuser``, ``xurl``), ``#hashtags`` keep their word,
elongations ("soooo") shrink to two letters and are counted, all-caps words are counted and
boost their lexicon valence, emoticons become ``xsmile``/``xfrown`` tokens, emoji stay tokens and
get a valence from VADER's emoji descriptions (language-independent). Negation marks every word
up to the next punctuation mark with ``not_`` (per-language negators); intensifiers scale the
valence of the word that follows.

>>> tokens("@Acme your app is NOT working :( #fail http://t.co/x", "en")
['xuser', 'your', 'app', 'is', 'not', 'not_working', 'xfrown', 'fail', 'xurl']
>>> tokens("Sooooo good!!!", "en")
['soo', 'good', '!!!']
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

_URL = r"https?://\S+|www\.\S+|\bhttp\b"
_SMILE = r"(?<!\w)(?:[:;=8xX][-'^o]?[)\]dDpP}*3]+|\(+[-'^]?[:;=]|<3+|\^_*\^)(?!\w)"
_FROWN = r"(?<!\w)(?:[:;=8][-'^]?[(\[/\\|{]+|[)\]]+[-'^]?[:=]|D[-']?[:;=8]|</3|T_T|-_-)(?!\w)"
# What one pass replaces by a placeholder (a regex pass per kind cost as much as the rest of the featuriser):
SPECIAL_SPEC = f"(?P<xurl>{_URL})|(?P<xuser>@\\w+)|(?P<xsmile>{_SMILE})|(?P<xfrown>{_FROWN})"
# ... written so that it starts with one character class: the regex engine then skips every other
# character in C (4x faster). Each branch checks (look-behind) which character started it; a group's
# name up to "_" is the placeholder. tests/unit/test_text.py checks it matches as SPECIAL_SPEC does.
_SPECIAL = re.compile(
    r"[hw@:;=8xX(<^)\]DT-](?:"
    r"(?<=h)(?P<xurl>ttps?://\S+|(?<!\wh)ttp\b)|(?<=w)(?P<xurl_www>ww\.\S+)|(?<=@)(?P<xuser>\w+)"
    r"|(?<!\w[:;=8xX(<^)\]DT-])(?:"  # emoticons: no word character before ...
    r"(?<=[:;=8xX])(?P<xsmile>[-'^o]?[)\]dDpP}*3]+)|(?<=\()(?P<xsmile_paren>\(*[-'^]?[:;=])"
    r"|(?<=<)(?P<xsmile_heart>3+)|(?<=\^)(?P<xsmile_eyes>_*\^)"
    r"|(?<=[:;=8])(?P<xfrown>[-'^]?[(\[/\\|{]+)|(?<=[)\]])(?P<xfrown_rev>[)\]]*[-'^]?[:=])"
    r"|(?<=D)(?P<xfrown_d>[-']?[:;=8])|(?<=<)(?P<xfrown_heart>/3)|(?<=T)(?P<xfrown_t>_T)|(?<=-)(?P<xfrown_m>_-)"
    r")(?!\w))")  # ... and none after
_ELONG = re.compile(r"(\w)\1{2,}")
_TRIPLE = re.compile(r"(\w)\1\1")  # cheaper to look for first: most texts have no elongation
_CAPS = re.compile(r"[A-ZÀ-Ý](?<=\b.)[A-ZÀ-Ý]{2,}\b")  # \b[A-ZÀ-Ý]{3,}\b, starting with a class (faster)
TOKEN = re.compile(r"[\w']+|[!?]+|[^\w\s]")
PUNCT = frozenset(".,;:!?()[]\"…")

NEGATORS = {
    "en": frozenset(("not", "no", "never", "nothing", "nobody", "none", "nor", "neither", "nowhere", "cannot",
                     "without", "aint", "cant", "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent",
                     "wont", "wouldnt", "shouldnt", "couldnt", "havent", "hasnt", "hadnt")),
    "fr": frozenset(("ne", "n'", "pas", "jamais", "rien", "aucun", "aucune", "personne", "sans", "ni", "non")),
    "es": frozenset(("no", "nunca", "jamás", "jamas", "nada", "nadie", "ni", "sin", "tampoco", "ningún", "ninguna")),
    "de": frozenset(("nicht", "kein", "keine", "keinen", "keiner", "keinem", "nie", "niemals", "nichts",
                     "niemand", "ohne", "weder", "nö", "nee")),
}
INTENSIFIERS = {
    "en": frozenset(("very", "so", "really", "too", "extremely", "totally", "absolutely", "completely", "super",
                     "incredibly", "utterly", "fucking", "freaking", "most", "such", "soo", "sooo")),
    "fr": frozenset(("très", "trop", "vraiment", "tellement", "super", "hyper", "grave", "complètement", "si")),
    "es": frozenset(("muy", "tan", "demasiado", "super", "súper", "realmente", "totalmente", "bastante", "re")),
    "de": frozenset(("sehr", "so", "zu", "echt", "total", "voll", "extrem", "richtig", "wirklich", "mega", "super")),
}
# Frequent complaint/praise emoji whose descriptions VADER has no word for ("pouting face").
_EMOJI_EXTRA = {"😡": -3.0, "🤬": -3.5, "😠": -2.5, "😤": -2.0, "👎": -2.0, "💩": -2.0, "🙄": -1.5, "😒": -1.5,
                "🤮": -3.0, "🤢": -2.0, "😞": -2.0, "😩": -2.0, "😫": -2.0, "😑": -1.0, "💔": -2.5,
                "👍": 2.0, "❤": 3.0, "❤️": 3.0, "🙏": 1.5, "👏": 2.0, "💯": 1.5, "🥰": 3.0, "😊": 2.5}
_VADER_DIR = Path(__import__("vaderSentiment").__file__).parent


@lru_cache(maxsize=1)
def vader_lexicon() -> dict[str, float]:
    """VADER's word valences (-4..4), read from the text file its wheel ships."""
    out: dict[str, float] = {}
    for line in (_VADER_DIR / "vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            out[parts[0]] = float(parts[1])
    return out


@lru_cache(maxsize=1)
def emoji_valence() -> dict[str, float]:
    """Emoji -> valence: the VADER valence of the emoji's English description (same in every language)."""
    lex = vader_lexicon()
    out: dict[str, float] = {}
    for line in (_VADER_DIR / "emoji_utf8_lexicon.txt").read_text(encoding="utf-8").splitlines():
        emoji, _, desc = line.partition("\t")
        v = sum(lex.get(w, 0.0) for w in desc.split())
        if v:
            out[emoji] = max(-4.0, min(4.0, v))
    return out | _EMOJI_EXTRA


def _placeholder(m: re.Match[str]) -> str:
    return f" {(m.lastgroup or '').partition('_')[0]} "


def normalise(text: str) -> tuple[str, int, int]:
    """Placeholders for users/URLs/emoticons, shrunk elongations; returns (text, caps words, elongations)."""
    text = _SPECIAL.sub(_placeholder, text)
    caps = len(_CAPS.findall(text))
    text, elong = _ELONG.subn(r"\1\1", text) if _TRIPLE.search(text) else (text, 0)
    return text.replace("#", " ").replace("’", "'"), caps, elong


def split_tokens(text: str) -> list[str]:
    """``TOKEN.findall(text)``, 1.4x faster: no token spans whitespace (``\\s`` and ``str.split`` agree on
    what it is), and a chunk of word characters only (most of them) is one token without the regex.

    >>> split_tokens("it's sooo good!!! :-) ok")
    ["it's", 'sooo', 'good', '!!!', ':', '-', ')', 'ok']
    """
    out: list[str] = []
    for chunk in text.split():
        if chunk.isalnum():
            out.append(chunk)
        else:
            out += TOKEN.findall(chunk)
    return out


def tokens(text: str, lang: str) -> list[str]:
    """Lower-cased tokens with negation scope marked (``not_``) up to the next punctuation."""
    text, _, _ = normalise(text)
    return _negate(split_tokens(text.lower()), NEGATORS.get(lang, NEGATORS["en"]))


def _negate(toks: list[str], negators: frozenset[str]) -> list[str]:
    out: list[str] = []
    scope = False
    for t in toks:
        if t[0] in PUNCT or t in ("xsmile", "xfrown"):
            scope = False
            out.append(t)
        elif scope:
            out.append("not_" + t)
        else:
            out.append(t)
            if t in negators or t.endswith("n't") or (t.startswith("n'") and len(t) > 2):
                scope = True
    return out


_VALENCES: dict[int, tuple[Mapping[str, float], dict[str, float]]] = {}


def _valences(lex: Mapping[str, float]) -> dict[str, float]:
    """Word valences merged with emoji and emoticon valences: one lookup per token."""
    hit = _VALENCES.get(id(lex))
    if hit is None or hit[0] is not lex:
        merged = {**emoji_valence(), **{w: v for w, v in lex.items() if v}, "xsmile": 2.0, "xfrown": -2.0}
        hit = _VALENCES[id(lex)] = (lex, merged)
    return hit[1]


def lexicon_valences(lang: str, lexicon: Mapping[str, float] | None = None
                     ) -> tuple[Mapping[str, float], dict[str, float]]:
    """(word lexicon, word + emoji + emoticon valences) used for ``lang``: VADER's by default for English."""
    lex = lexicon if lexicon is not None else vader_lexicon() if lang in ("en", "und") else {}
    return lex, _valences(lex)


def lexicon_features(toks: list[str], caps: int, elong: int, lang: str,
                     lexicon: Mapping[str, float] | None = None) -> dict[str, float]:
    """Dense cues: lexicon valence (negation flips, intensifiers boost), emoji, punctuation, caps.

    ``lexicon`` defaults to VADER's for English and none for other languages.

    >>> f = lexicon_features(tokens("not good", "en"), 0, 0, "en")
    >>> f["lex_neg"] > 0 and f.get("lex_pos", 0) == 0
    True
    """
    lex, val = lexicon_valences(lang, lexicon)
    boosters = INTENSIFIERS.get(lang, INTENSIFIERS["en"])
    pos = neg = 0.0
    npos = nneg = 0
    boost = 1.0
    excl = quest = negations = 0
    for t in toks:
        v = val.get(t, 0.0)
        if not v:
            c = t[0]
            if c == "!":
                excl += 1
            elif c == "?":
                quest += 1
            elif c == "n" and t.startswith("not_"):
                negations += 1
                v = -0.74 * lex.get(t[4:], 0.0)
        if v:
            v *= boost
            if v > 0:
                pos += v
                npos += 1
            else:
                neg -= v
                nneg += 1
        boost = 1.3 if t in boosters else 1.0
    scale = 1.0 + 0.2 * min(caps, 3) + 0.1 * min(excl, 3)
    f = {"lex_pos": math.log1p(pos * scale), "lex_neg": math.log1p(neg * scale),
         "lex_npos": min(npos, 5) / 5, "lex_nneg": min(nneg, 5) / 5,
         "lex_diff": math.tanh((pos - neg) * scale / 4), "excl": min(excl, 3) / 3, "quest": min(quest, 3) / 3,
         "caps": min(caps, 3) / 3, "elong": min(elong, 3) / 3, "negations": min(negations, 5) / 5}
    return {k: v for k, v in f.items() if v}


def char_ngrams(token: str, lo: int = 2, hi: int = 5) -> list[str]:
    """Character n-grams (``lo`` >= 2) of one token with word boundaries (spelling variants, morphology).

    >>> char_ngrams("bad", 3, 4)
    ['<ba', 'bad', 'ad>', '<bad', 'bad>']
    """
    t = f"<{token}>"
    return [t[i:i + n] for n in range(lo, hi + 1) for i in range(len(t) - n + 1)]


def text_features(text: str, lang: str, lexicon: Mapping[str, float] | None = None
                  ) -> tuple[list[str], list[str], dict[str, float]]:
    """(word uni+bigrams, tokens for char n-grams, dense lexicon features) of one text."""
    norm, caps, elong = normalise(text)
    toks = _negate(split_tokens(norm.lower()), NEGATORS.get(lang, NEGATORS["en"]))
    words = ["w:" + t for t in toks]
    words += ["b:" + a + " " + b for a, b in zip(toks, toks[1:], strict=False)]
    return words, toks, lexicon_features(toks, caps, elong, lang, lexicon) if toks else {}

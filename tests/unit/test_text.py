"""Social-media normalisation, negation scope and lexicon cues (table-driven)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.langid import LanguageIdentifier
from pipeline.core.text import (
    _CAPS,
    _SPECIAL,
    SPECIAL_SPEC,
    TOKEN,
    _placeholder,
    lexicon_features,
    normalise,
    split_tokens,
    tokens,
)


@pytest.mark.parametrize(("text", "lang", "expected"), [
    ("@acme http://x.co/a #fail", "en", ["xuser", "xurl", "fail"]),          # mention, URL, hashtag word
    ("so goooood", "en", ["so", "good"]),                                    # elongation shrunk to two
    ("I don't like it. Fine", "en", ["i", "don't", "not_like", "not_it", ".", "fine"]),  # scope ends at '.'
    ("ce n'est pas bon", "fr", ["ce", "n'est", "not_pas", "not_bon"]),      # French ne ... pas
    ("no me gusta", "es", ["no", "not_me", "not_gusta"]),
    ("das ist nicht gut", "de", ["das", "ist", "nicht", "not_gut"]),
    ("great :) :-( <3", "en", ["great", "xsmile", "xfrown", "xsmile"]),       # emoticons
])
def test_tokens(text: str, lang: str, expected: list[str]) -> None:
    assert tokens(text, lang) == expected


def test_caps_and_elongations_are_counted() -> None:
    _, caps, elong = normalise("WORST DAY ever, sooo bad")
    assert (caps, elong) == (2, 1)


def test_lexicon_cues() -> None:
    good = lexicon_features(tokens("good", "en"), 0, 0, "en")
    very = lexicon_features(tokens("very good", "en"), 0, 0, "en")
    shouted = lexicon_features(tokens("good", "en"), 2, 0, "en")
    negated = lexicon_features(tokens("not good", "en"), 0, 0, "en")
    assert very["lex_pos"] > good["lex_pos"] and shouted["lex_pos"] > good["lex_pos"]
    assert negated["lex_neg"] > 0 and "lex_pos" not in negated
    assert lexicon_features(tokens("😡", "de"), 0, 0, "de")["lex_neg"] > 0  # emoji valence in any language
    assert lexicon_features(tokens("bon", "fr"), 0, 0, "fr", {"bon": 2.0})["lex_pos"] > 0


def test_language_identification_batches_and_falls_back() -> None:
    ident = LanguageIdentifier()
    assert ident.detect_batch(["I love this so much", "c'est vraiment nul", "no me gusta nada",
                               "das ist wirklich schlecht", "это ужасно", "12345 !!!", ""]) == \
        ["en", "fr", "es", "de", "und", "und", "und"]
    assert ident.detect_batch([]) == []


# The fast regexes in core.text must match exactly as the readable ones they replace.
_ALPHABET = st.sampled_from([*"hw@:;=8xX(<^)]DT-_/\\|{}[*3pPdo'. aAZÀÝ×éß1!?#\n", "http://", "https://a", "www.",
                             "ttp", "😡", "ooo"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_ALPHABET, max_size=14).map("".join))
def test_fast_regexes_match_their_readable_forms(text: str) -> None:
    spec = re.compile(SPECIAL_SPEC)
    assert _SPECIAL.sub(_placeholder, text) == spec.sub(lambda m: f" {m.lastgroup} ", text)
    assert _CAPS.findall(text) == re.findall(r"\b[A-ZÀ-Ý]{3,}\b", text)
    assert normalise(text)[2] == re.subn(r"(\w)\1{2,}", "", _SPECIAL.sub(_placeholder, text))[1]


def test_batched_automaton_counts_what_py3langid_visits() -> None:
    from collections import Counter

    from py3langid.langid import MODEL_DIR, MODEL_FILE, visit_counts
    from py3langid.modelio import load_model

    _, _, _, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    rowbase = [int(r) << 8 for r in row]
    ident = LanguageIdentifier()
    encoded = [ident._encode(t) for t in ("the service was terrible", "RT @acme: c'est NUL http://x.co",
                                          "é", "x" * 500, "Der Service war schrecklich 😡", " ")]
    who, what = ident._features(encoded)
    for i, b in enumerate(encoded):
        assert Counter(what[who == i].tolist()) == (visit_counts(nextmove, rowbase, output, b) or Counter())


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from([*"hw@#RTt p:/.a_1\né", "http", "https://", "www.", "RT"]), max_size=12).map("".join))
def test_langid_strip_matches_its_readable_form(text: str) -> None:
    from pipeline.core.langid import _STRIP

    assert _STRIP.sub(" ", text) == re.sub(r"https?://\S+|www\.\S+|@\w+|#|\bhttp\b|\bRT\b", " ", text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([*"ab_1'!?.:-) ", "\t", "\n", "\u00a0", "\u2003", "\x1c", "\x85", "é", "½",
                                         "٣", "\u200b", "ǅ", "😡", "の"]), max_size=20))
def test_split_tokens_equal_the_token_regex(text: str) -> None:
    assert split_tokens(text) == TOKEN.findall(text)

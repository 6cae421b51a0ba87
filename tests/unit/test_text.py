"""Social-media normalisation, negation scope and lexicon cues (table-driven)."""

from __future__ import annotations

import pytest

from pipeline.core.langid import LanguageIdentifier
from pipeline.core.text import lexicon_features, normalise, tokens


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

"""The batch featuriser computes exactly the per-text features' sum (``LanguageModel.rows``)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.featurise import GramCodes, TokenTable
from pipeline.core.scoring import LABELS, Scorer
from pipeline.core.text import char_ngrams

TEXTS = [
    "@Acme your app is NOT working :( #fail http://t.co/x",
    "Sooooo good!!! Thank you, the crew was wonderful 😍",
    "I don't like it, never again. But the food was very good",
    "not_good literally, not not_bad, n'importe quoi ... c'est pas terrible, ne marche jamais",
    "", "   ", "😡😡", "?!?", "no no no. not. never!", "WORST. SERVICE. EVER!!! >:( </3 T_T",
    "El servicio no es nada bueno, muy malo", "Das ist nicht gut, überhaupt nicht!", "ひどいサービス",
    "so so very good", "aint nobody got time", "isn't it great? :) :D xD <3",
]


def _per_text(model, texts: list[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([sum(model.weights[i] * v for i, v in model.rows(t).items()) for t in texts])


@pytest.mark.parametrize("lang", ["en", "fr", "es", "de"])
def test_batch_logits_equal_per_text_features(lang: str) -> None:
    model = Scorer().models[lang]
    texts = TEXTS * 2  # the second copy hits the warm token table
    np.testing.assert_allclose(model.logits(texts), _per_text(model, texts), rtol=0, atol=1e-12)


def test_batch_logits_follow_learning() -> None:
    scorer = Scorer()
    model = scorer.models["en"]
    model.logits(TEXTS)  # warm the table before the weights move
    for text in TEXTS[:4]:
        scorer.learn_one(text + " zzyzx-new-word", "negative", lang="en")
    texts = [*TEXTS, "zzyzx-new-word again"]
    np.testing.assert_allclose(model.logits(texts), _per_text(model, texts), rtol=0, atol=1e-12)


def _uncached(model, texts: list[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The logits a token table built from scratch with the model's current weights gives."""
    return TokenTable(model.lang, model.lexicon).logits(texts, model.index, model.char_index, model.weights)


def test_learning_keeps_the_table_warm_and_exact() -> None:
    scorer = Scorer()
    model = scorer.models["en"]
    untouched = Scorer().score_batch(TEXTS)
    # Unknown words cached before lessons add their word, bigram and character n-gram features.
    texts = [*TEXTS, "qwxjv flight", "the qwxjvz app", "not qwxjv at all", "zzyzx-new-word again"]
    model.logits(texts)
    warm = len(model._table.strings)
    lessons = [("qwxjv is awful", "negative"), ("zzyzx-new-word, thank you", "positive"),
               ("I don't like qwxjvz", "negative")]
    for round_ in range(3):
        for text, label in lessons:
            scorer.learn_one(f"{text} {round_}", label, lang="en")
        logits = model.logits(texts)
        assert len(model._table.strings) >= warm  # the tokens stayed
        np.testing.assert_array_equal(logits, _uncached(model, texts))
    # Many lessons at once: every token's n-grams are looked up again (more new n-grams than searched for).
    for i, text in enumerate(TEXTS * 4):
        scorer.learn_one(f"{text} extraword{i}", LABELS[i % 3], lang="en")
    np.testing.assert_array_equal(model.logits(texts), _uncached(model, texts))
    assert Scorer().score_batch(TEXTS) == untouched  # the shared table of the shipped weights is not changed
    uncached = Scorer.from_state(scorer.to_state())  # the same weights, scored without any token table kept
    for m in uncached.models.values():
        m.logits = lambda batch, m=m: _uncached(m, batch)  # type: ignore[method-assign]
    assert scorer.score_batch(texts) == uncached.score_batch(texts)


def test_restored_state_scores_as_a_new_table_would() -> None:
    scorer = Scorer()
    for i, text in enumerate(TEXTS):
        scorer.learn_one(text + " qwxjv", LABELS[i % 3], lang="en")
    restored = Scorer.from_state(scorer.to_state()).models["en"]
    np.testing.assert_array_equal(restored.logits(TEXTS), _uncached(restored, TEXTS))


WORDS = ["<good>", "<a>", "<>", "<not_bad>", "<😡😡>", "<déçu>", "<zzqx>", "<\ud83d>", "<ひどい>", "<n'importe>"]


@pytest.mark.parametrize("base", [False, True], ids=["codes", "dict fallback"])
def test_gram_codes_find_what_the_dict_finds_in_its_order(base: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    grams = {g: i for i, g in enumerate(["go", "<g", "oo", "ood", "d>", "<a", "a>", "<>", "😡", "😡>", "éç", "déçu",
                                         "<not", "ot_b", "bad>", "zq", "ひど", "<n'", "'imp"])}
    codes = GramCodes(grams)
    if base:
        monkeypatch.setattr(codes, "base", 10_000)
    owner, rows = codes.look_up(WORDS)
    expected = [(w, grams[g]) for w, word in enumerate(WORDS) for g in char_ngrams(word[1:-1]) if g in grams]
    assert list(zip(owner.tolist(), rows.tolist(), strict=True)) == expected
    grams["zzq"] = len(grams)  # learning adds an n-gram: the codes follow
    assert codes.follow(grams) is codes
    grams["ひどい>"] = len(grams)  # ... with a new character: new codes
    assert codes.follow(grams).look_up(["<zzqx>", "<ひどい>"])[1].tolist() == [grams["zq"], grams["zzq"],
                                                                              grams["ひど"], grams["ひどい>"]]

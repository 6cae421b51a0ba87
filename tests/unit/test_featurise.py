"""The batch featuriser computes exactly the per-text features' sum (``LanguageModel.rows``)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.scoring import Scorer

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

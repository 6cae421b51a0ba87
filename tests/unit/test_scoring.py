"""The shipped scorer on texts written here: languages, negation, emoji, fallback, learning, state."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from pipeline.core.artefact import ARTEFACT, load_artefact
from pipeline.core.scoring import LABELS, Scorer


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


@pytest.mark.parametrize(("text", "lang", "sentiment"), [
    ("My flight was cancelled and the support is terrible. Worst airline ever!", "en", "negative"),
    ("Thank you so much, the crew was wonderful and the flight was great!", "en", "positive"),
    ("Service client nul, je suis vraiment déçu et en colère, c'est une honte", "fr", "negative"),
    ("Merci beaucoup, super service, je suis très content et heureux !", "fr", "positive"),
    ("El servicio es horrible, estoy muy enfadado, una vergüenza total", "es", "negative"),
    ("Muchas gracias, me encanta, excelente servicio, muy feliz", "es", "positive"),
    ("Der Service ist furchtbar, ich bin total enttäuscht und wütend", "de", "negative"),
    ("Vielen Dank, super Service, ich bin sehr glücklich und zufrieden", "de", "positive"),
])
def test_obvious_texts_in_each_language(scorer: Scorer, text: str, lang: str, sentiment: str) -> None:
    s = scorer.score(text)
    assert (s.lang, s.sentiment) == (lang, sentiment)
    assert (s.negativity > 0.5) == (sentiment == "negative")


def test_negation_raises_negativity(scorer: Scorer) -> None:
    plain, negated = scorer.score_batch(["the new app is good and works", "the new app is not good and never works"])
    assert negated.negativity > plain.negativity + 0.2


def test_emoji_and_emoticons_carry_sentiment(scorer: Scorer) -> None:
    angry, happy = scorer.score_batch(["@acme my order 😡😡 :(", "@acme my order 😍😍 :)"])
    assert angry.negativity > happy.negativity + 0.2
    assert happy.sentiment == "positive"


def test_unknown_language_and_empty_text_fall_back(scorer: Scorer) -> None:
    texts = ["このサービスはひどいです", "", "🙂", "worst airline ever"]
    scores = scorer.score_batch(texts, [None, None, None, "ja"])
    assert [s.lang for s in scores] == ["und"] * 4
    assert all(0.0 <= s.negativity <= 1.0 and s.sentiment in LABELS for s in scores)
    assert scorer.last_counts == {"und": 4}
    english = scorer.score_batch(texts, ["en"] * 4)  # the fallback is the English model itself
    assert [(s.negativity, s.sentiment) for s in scores] == [(s.negativity, s.sentiment) for s in english]


def test_producer_language_tag_is_used(scorer: Scorer) -> None:
    en, ja = scorer.score_batch(["c'est nul", "c'est nul"], ["en-GB", "ja"])
    assert (en.lang, ja.lang) == ("en", "und")


def test_learn_one_moves_prediction_toward_label() -> None:
    scorer = Scorer()
    text = "the gate agent handed me a voucher for the flight delay"
    before = scorer.score(text).negativity
    for i in range(5):
        assert scorer.learn_one(text, "negative", lang="en", feedback_id=f"f{i}")
    assert scorer.score(text).negativity > before + 0.05
    assert scorer.drift_stats()["en"][1] == 0


def test_same_feedback_id_trains_once() -> None:
    scorer = Scorer()
    assert scorer.learn_one("meh, the lounge was closed", "negative", feedback_id="slack:1")
    after_one = scorer.score("meh, the lounge was closed").negativity
    assert not scorer.learn_one("meh, the lounge was closed", "negative", feedback_id="slack:1")
    assert scorer.score("meh, the lounge was closed").negativity == after_one
    assert not scorer.learn_one("anything", "angry")  # not a label


def test_state_round_trip_gives_identical_predictions() -> None:
    scorer = Scorer()
    scorer.learn_one("zorgblat flight again, totally unacceptable", "negative", feedback_id="a")
    scorer.learn_one("vol zorgblat encore annulé", "negative", lang="fr", feedback_id="b")
    scorer.learn_one("nice zorgblat crew", "positive", feedback_id="c")
    state = json.loads(json.dumps(scorer.to_state()))
    restored = Scorer.from_state(state)
    texts = ["zorgblat flight again", "vol zorgblat", "nice crew", "ひどい"]
    assert restored.score_batch(texts) == scorer.score_batch(texts)
    assert not restored.learn_one("nice zorgblat crew", "positive", feedback_id="c")
    assert restored.to_state() == state
    assert set(state["models"]) == {"en", "fr"}


def test_fresh_scorer_has_empty_state() -> None:
    state = Scorer().to_state()
    assert state["models"] == {} and state["seen_ids"] == [] and state["monitors"] == {}


def test_artefact_is_small_and_pickle_free() -> None:
    assert ARTEFACT.stat().st_size < 5_000_000
    with np.load(ARTEFACT, allow_pickle=False) as z:
        assert all(z[name].dtype != object for name in z.files)
    with zipfile.ZipFile(ARTEFACT) as z:
        assert all(name.endswith(".npy") for name in z.namelist())
    meta, models, lexicons = load_artefact(ARTEFACT)
    assert set(models) == {"en", "fr", "es", "de"} and "fr" in lexicons
    assert all(len(vocab) == len(w) and w.shape[1] == 3 for vocab, w in models.values())


def test_learning_in_one_scorer_does_not_leak_into_another() -> None:
    text = "the zorgblat lounge staff"
    a, b = Scorer(), Scorer()
    before = b.score(text)
    for i in range(3):
        a.learn_one(text, "negative", feedback_id=str(i))
    assert a.score(text) != before
    assert b.score(text) == before == Scorer().score(text)


def test_calibration_is_monotone_bounded_and_survives_learning() -> None:
    """Each language's shipped calibration maps P(negative) into [0, 1], increasing, and stays as shipped
    after feedback and a state round trip (learning moves the weights, not the calibration)."""
    scorer = Scorer()
    p = np.linspace(0.0, 1.0, 201)
    for lang, model in scorer.models.items():
        neg = model.negativity(p)
        assert np.all((neg >= 0.0) & (neg <= 1.0)), lang
        assert np.all(np.diff(neg) > 0), lang
    scorer.learn_one("el servicio zorgblat es horrible", "negative", lang="es", feedback_id="x")
    restored = Scorer.from_state(json.loads(json.dumps(scorer.to_state())))
    for lang, model in restored.models.items():
        assert np.array_equal(model.negativity(p), Scorer().models[lang].negativity(p)), lang
        assert model.calibration == tuple(load_artefact(ARTEFACT)[0]["calibration"][lang])

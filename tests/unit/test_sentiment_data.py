"""``make train``'s data readers refuse to train on a text that ``make bench-score`` evaluates on.

XLM-T's English is a balanced resample of TweetEval's validation split (``pipeline/sim/sentiment_data.py``),
so pooling it into English's training set would train on the English evaluation; the check has to catch
that however the texts' whitespace or case differ. The data sets are written here, in the layout of
``../shared/datasets``, with made-up tweets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.sim import sentiment_data as sd


def _pair(d: Path, split: str, texts: list[str], labels: list[int]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{split}_text.txt").write_text("\n".join(texts), encoding="utf-8")
    (d / f"{split}_labels.txt").write_text("\n".join(map(str, labels)), encoding="utf-8")


def _write(root: Path, en_train: list[str]) -> Path:
    _pair(root / "tweets_en", "train", en_train, [i % 3 for i in range(len(en_train))])
    _pair(root / "tweets_en", "val", ["the flight was late again", "lovely crew", "boarding at 9"], [0, 2, 1])
    for lang, folder in sd.XLMT.items():
        _pair(root / "xlmt" / folder, "train", [f"{lang} train {i}" for i in range(3)], [0, 1, 2])
        _pair(root / "xlmt" / folder, "val", [f"{lang} val {i}" for i in range(3)], [0, 1, 2])
    (root / "deft2017_fr").mkdir()
    (root / "deft2017_fr" / "train.tsv").write_text(
        "id\ttext\tlabel\n1\tpas content\tnegative\n5\tbof\tobjective\n7\tsuper\tpositive\n8\tmouais\tmixed\n",
        encoding="utf-8")
    (root / "airline").mkdir()
    (root / "airline" / "tweets_dev.csv").write_text(
        "tweet_id,airline_sentiment,text\n1,negative,lost my bag\n2,neutral,gate 4?\n", encoding="utf-8")
    return root


def test_disjoint_sets_load(tmp_path: Path) -> None:
    sets = sd.training_sets(_write(tmp_path, ["great service", "awful food", "ok"]))
    assert sets["en"] == (["great service", "awful food", "ok"], [0, 1, 2])
    assert sets["fr"] == (["fr train 0", "fr train 1", "fr train 2", "pas content", "super"], [0, 1, 2, 0, 2])
    assert sd.evaluation_sets(tmp_path)["deft2017_fr held-out"] == (["bof"], [1])


@pytest.mark.parametrize("leaked", ["The flight  was late AGAIN", "en val 2", "lost my bag"])
def test_a_training_text_in_an_evaluation_set_is_refused(tmp_path: Path, leaked: str) -> None:
    root = _write(tmp_path, ["great service", leaked, "ok"])
    with pytest.raises(ValueError, match="training texts found in evaluation sets"):
        sd.training_sets(root)

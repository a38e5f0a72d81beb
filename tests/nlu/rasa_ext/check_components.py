"""Run by the Rasa virtualenv's Python (tests/nlu/rasa_ext/test_components.py starts it): our
intent classifier on the project's training data, the held-out file and hostile text, against a
plain scikit-learn fit of the same model. Prints one JSON object of findings."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from tousu_rasa.tfidf_classifier import LATIN_WORD, TfidfIntentClassifier

HOSTILE = [
    "",
    "   ",
    "😀😀 x 👍🏽",
    "a\x00b 12315\x00110",
    "Ünïcode ÉÈ İ ǅ ß",
    "\t\n多\u3000 行\x1c文本\u2028",
    "x" * 5000,
    "订单号 A20261120001 ￥300 13800138000 +86 138 0013 8000",
    "我要找记者曝光，还要去12315和消协投诉，律师函已经发了",
]


def _confidences(classifier: TfidfIntentClassifier, texts: list[str]) -> np.ndarray:
    """Each text's confidence per intent, as the classifier sets it on the messages."""
    assert classifier.clf is not None
    classes = [str(c) for c in classifier.clf.classes_]
    messages = classifier.process([Message({TEXT: t}) for t in texts])
    table = np.zeros((len(texts), len(classes)))
    for row, message in enumerate(messages):
        for entry in message.get("intent_ranking"):
            table[row, classes.index(entry["name"])] = entry["confidence"]
    return table


def main() -> None:
    logging.disable(logging.WARNING)
    root = Path(sys.argv[1])
    training = load_data(str(root / "nlu" / "data"))
    heldout = load_data(str(root / "tests" / "nlu" / "heldout.yml"))
    examples = [m for m in training.intent_examples if m.get(TEXT)]
    train_texts = [m.get(TEXT) for m in examples]
    texts = train_texts + [m.get(TEXT) for m in heldout.intent_examples] + HOSTILE
    report: dict[str, Any] = {"texts": len(texts)}
    with tempfile.TemporaryDirectory() as folder:
        storage = LocalModelStorage(Path(folder))
        config = {**TfidfIntentClassifier.get_default_config(), "ranking_length": 0}
        classifier = TfidfIntentClassifier.create(config, storage, Resource("tfidf"), None)  # type: ignore[arg-type]
        classifier.train(training)
        trained = _confidences(classifier, texts)

        words = TfidfVectorizer(token_pattern=LATIN_WORD, sublinear_tf=True)
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
        plain = LogisticRegression(C=20.0, max_iter=2000).fit(
            hstack([words.fit_transform(train_texts), chars.fit_transform(train_texts)]),
            [m.get(INTENT) for m in examples],
        )
        expected = plain.predict_proba(hstack([words.transform(texts), chars.transform(texts)]))
        report["plain_scikit_learn_max_difference"] = float(np.abs(trained - expected).max())

        one_by_one = np.vstack([_confidences(classifier, [t]) for t in texts])
        report["batch_vs_single_max_difference"] = float(np.abs(one_by_one - trained).max())
        loaded = TfidfIntentClassifier.load(config, storage, Resource("tfidf"), None)  # type: ignore[arg-type]
        report["loaded_max_difference"] = float(np.abs(_confidences(loaded, texts) - trained).max())
        report["sums_to_one_max_difference"] = float(np.abs(trained.sum(axis=1) - 1).max())
    print(json.dumps(report))


if __name__ == "__main__":
    main()

"""Feature sets for the intent classifier, compared outside Rasa (same data, same scoring).

Runs in the Rasa virtualenv (it has scikit-learn, Jieba and Rasa's YAML loader):

    .venv-rasa/bin/python bench/nlu_features.py

For each feature set: category macro-F1 per language and overall macro-F1 on the held-out file
(tests/nlu/heldout.yml, never trained on) and in 5-fold stratified cross-validation over nlu/data,
plus the time to vectorise and score 50 held-out texts at once. Logistic regression, C=20.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jieba
import numpy as np
from rasa.shared.nlu.training_data.loading import load_data
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline, make_union

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # nlu.types is plain Python, importable from Rasa's 3.10 too
from nlu.types import CONVERSATION_INTENTS  # noqa: E402

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = r"[a-z][a-z']+"


def jieba_words(text: str) -> list[str]:
    return [w for w in jieba.lcut(text.lower()) if w.strip()]


def chars(high: int) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, high), sublinear_tf=True)


FEATURES: dict[str, Callable[[], Any]] = {
    "counts: jieba words + chars 1-4 (Rasa's pipeline before)": lambda: make_union(
        CountVectorizer(analyzer=jieba_words), CountVectorizer(analyzer="char_wb", ngram_range=(1, 4))
    ),
    "tf-idf: jieba words + chars 1-4": lambda: make_union(
        TfidfVectorizer(analyzer=jieba_words, sublinear_tf=True), chars(4)
    ),
    "tf-idf: chars 1-4": lambda: chars(4),
    "tf-idf: chars 1-4 + latin words": lambda: make_union(
        chars(4), TfidfVectorizer(token_pattern=LATIN, sublinear_tf=True)
    ),
    "tf-idf: chars 1-3 + latin words (shipped)": lambda: make_union(
        chars(3), TfidfVectorizer(token_pattern=LATIN, sublinear_tf=True)
    ),
}


def examples(path: Path) -> tuple[list[str], list[str]]:
    data = load_data(str(path))
    pairs = [(m.get("text"), m.get("intent")) for m in data.intent_examples]
    return [t for t, _ in pairs], [i for _, i in pairs]


def scores(texts: list[str], gold: list[str], predicted: list[str]) -> str:
    parts = []
    categories = sorted(set(gold) - set(CONVERSATION_INTENTS))
    for language in ("zh", "en"):
        index = [
            i
            for i, t in enumerate(texts)
            if gold[i] in categories and bool(CJK.search(t)) == (language == "zh")
        ]
        f1 = f1_score(
            [gold[i] for i in index],
            [predicted[i] for i in index],
            labels=categories,
            average="macro",
        )
        parts.append(f"{language} {f1:.3f}")
    parts.append(f"all intents {f1_score(gold, predicted, average='macro'):.3f}")
    return ", ".join(parts)


def main() -> None:
    logging.disable(logging.WARNING)
    jieba.setLogLevel(logging.WARNING)
    train_texts, train_labels = examples(ROOT / "nlu" / "data")
    held_texts, held_labels = examples(ROOT / "tests" / "nlu" / "heldout.yml")
    print(f"{len(train_texts)} training examples, {len(held_texts)} held-out")
    for name, features in FEATURES.items():
        model = make_pipeline(features(), LogisticRegression(C=20, max_iter=2000))
        model.fit(train_texts, train_labels)
        held = scores(held_texts, held_labels, list(model.predict(held_texts)))
        began = time.perf_counter()
        for _ in range(10):
            model.predict_proba(held_texts[:50])
        per_batch = (time.perf_counter() - began) / 10 * 1000
        folds = np.empty(len(train_labels), dtype=object)
        x, y = np.array(train_texts, dtype=object), np.array(train_labels)
        for fit, test in StratifiedKFold(5, shuffle=True, random_state=7).split(x, y):
            fold = make_pipeline(features(), LogisticRegression(C=20, max_iter=2000))
            fold.fit(list(x[fit]), y[fit])
            folds[test] = fold.predict(list(x[test]))
        cv = scores(train_texts, train_labels, list(folds))
        print(f"{name}\n  held-out: {held}\n  5-fold CV: {cv}\n  50 texts: {per_batch:.1f} ms", flush=True)


if __name__ == "__main__":
    main()

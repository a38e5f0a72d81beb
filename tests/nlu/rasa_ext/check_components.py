"""Run by the Rasa virtualenv's Python (tests/nlu/rasa_ext/test_components.py starts it): our
Rasa components against the scikit-learn and Rasa code they replace, on the project's training
data, the held-out file and hostile text. Prints one JSON object of findings."""

from __future__ import annotations

import json
import logging
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.extractors.regex_entity_extractor import RegexEntityExtractor
from rasa.nlu.utils.pattern_utils import extract_patterns
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from sklearn.feature_extraction.text import CountVectorizer
from tousu_rasa.batch_features import CharGrams
from tousu_rasa.batch_regex import BatchRegexEntityExtractor, find_entities, joinable, with_first_chars
from tousu_rasa.tfidf_classifier import TfidfIntentClassifier

HOSTILE = [
    "",
    "   ",
    "😀😀 x 👍🏽",
    "a\x00b 12315\x00110",
    "Ünïcode ÉÈ İ ǅ ß",
    "\t\n多\u3000 行\x1c文本\u2028",
    "x" * 5000,
    "订单号 A20261120001 ￥300 13800138000 +86 138 0013 8000",
    "A  b  c  d",
    "我要找记者曝光，还要去12315和消协投诉，律师函已经发了",
    "STRASSE Straße ǆemal ǅEMAL \u212aelvin KELVIN ſtraße Media MEDIA mEdIa",
]
EXTRA_PATTERNS = [  # beyond the project's own: shapes the joined search must refuse or get right
    {"name": "dot", "pattern": r"a.b"},
    {"name": "anchored", "pattern": r"^\d+"},
    {"name": "negated", "pattern": r"[^\d\s]{3}"},
    {"name": "non_digit", "pattern": r"\D\d"},
    {"name": "boundary", "pattern": r"\bx\b"},
    {"name": "lookahead", "pattern": r"\d+(?=元)"},
    {"name": "empty", "pattern": r"(?:元)?"},
    {"name": "cased_lookup", "pattern": r"(Straße|MEDIA|ǅemal|kelvin|律师)"},
    {"name": "behind_lookup", "pattern": r"(?<!x)(?:Kelvin|\d{3})"},
    {"name": "inline_flags", "pattern": r"(?i)(media|press)"},
]


def _entities(message: Message) -> list[tuple[Any, ...]]:
    return [(e["entity"], e["start"], e["end"], e["value"]) for e in message.get(ENTITIES, [])]


def main() -> None:
    logging.disable(logging.WARNING)
    root = Path(sys.argv[1])
    training = load_data(str(root / "nlu" / "data"))
    heldout = load_data(str(root / "tests" / "nlu" / "heldout.yml"))
    train_texts = [m.get(TEXT) for m in training.intent_examples]
    texts = train_texts + [m.get(TEXT) for m in heldout.intent_examples] + HOSTILE
    report: dict[str, Any] = {"texts": len(texts)}

    counter = CountVectorizer(analyzer="char_wb", ngram_range=(1, 3), lowercase=True).fit(train_texts)
    grams = CharGrams(counter.vocabulary_)
    mismatched = sum(
        int((counter.transform(batch) != grams.transform(batch)).nnz > 0) for batch in ([t] for t in texts)
    )
    report["char_gram_texts_differing"] = mismatched
    report["char_gram_batch_differs"] = bool((counter.transform(texts) != grams.transform(texts)).nnz)

    with tempfile.TemporaryDirectory() as folder:
        storage = LocalModelStorage(Path(folder))
        classifier = TfidfIntentClassifier.create(
            TfidfIntentClassifier.get_default_config(),
            storage,
            Resource("tfidf"),
            None,  # type: ignore[arg-type]
        )
        classifier.train(training)
        assert classifier.clf is not None
        fast = classifier._scores(texts)
        weights = np.ascontiguousarray(classifier.clf.coef_.T)
        slow = classifier._features(texts) @ weights + classifier.clf.intercept_
        report["score_max_difference"] = float(np.abs(fast - slow).max())
        report["top_intent_differs"] = int((fast.argmax(axis=1) != slow.argmax(axis=1)).sum())
        one_by_one = np.vstack([classifier._scores([t]) for t in texts])
        report["batch_vs_single_max_difference"] = float(np.abs(one_by_one - fast).max())
        loaded = TfidfIntentClassifier.load({}, storage, Resource("tfidf"), None)  # type: ignore[arg-type]
        report["loaded_max_difference"] = float(np.abs(loaded._scores(texts) - fast).max())

        config = {**RegexEntityExtractor.get_default_config(), "use_word_boundaries": False}
        rasa_extractor = RegexEntityExtractor.create(config, storage, Resource("regex"), None)  # type: ignore[arg-type]
        rasa_extractor.train(training)
        ours = BatchRegexEntityExtractor(config, storage, Resource("regex2"), rasa_extractor.patterns)
        for extra in (False, True):
            if extra:
                rasa_extractor.patterns = ours.patterns = rasa_extractor.patterns + EXTRA_PATTERNS
            theirs_msgs = rasa_extractor.process([Message({TEXT: t}) for t in texts])
            ours_msgs = ours.process([Message({TEXT: t}) for t in texts])
            key = "entity_texts_differing" + ("_with_extra_patterns" if extra else "")
            pairs = zip(theirs_msgs, ours_msgs, strict=True)
            report[key] = sum(_entities(a) != _entities(b) for a, b in pairs)
            report["entities_found" + ("_with_extra_patterns" if extra else "")] = sum(
                len(_entities(m)) for m in ours_msgs
            )
        flags = re.IGNORECASE
        report["joinable"] = {p["name"]: joinable(p["pattern"], flags) for p in EXTRA_PATTERNS}
        patterns = extract_patterns(
            training, use_lookup_tables=True, use_regexes=True, use_word_boundaries=False
        )
        report["inline_flags_left_alone"] = (
            with_first_chars(r"(?i)(media|press)", flags) == r"(?i)(media|press)"
        )
        report["project_patterns_with_lookahead"] = sum(
            with_first_chars(p["pattern"], flags) != p["pattern"] for p in patterns
        )
        regexes = training.regex_features
        report["project_patterns_joined"] = sum(joinable(p["pattern"], flags) for p in regexes)
        report["project_patterns"] = len(regexes)
        compiled = [(p["name"], re.compile(p["pattern"], flags), True) for p in EXTRA_PATTERNS[:1]]
        report["dot_forced_joined_spans_texts"] = find_entities(compiled, ["xxa", "bxx"]) != [[], []]
    print(json.dumps(report))


if __name__ == "__main__":
    main()

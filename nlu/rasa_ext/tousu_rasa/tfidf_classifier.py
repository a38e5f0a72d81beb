"""An intent classifier that works on whole batches: scikit-learn's TF-IDF over character 1-3-grams
and Latin words, then its logistic regression.

Why not Rasa's featurizers + LogisticRegressionClassifier: they build and stack sparse matrices
message by message, so a parse cost 4-7 ms whatever the batch size. Here a batch of texts is
vectorised and scored in one scikit-learn call each. Sublinear TF-IDF scored better than raw
counts on the held-out file and in cross-validation, and character n-grams plus English words did
as well as Jieba words plus n-grams in less time; see bench/RESULTS.md, "NLU".

The trained state is stored as JSON vocabularies and NumPy arrays (no pickle) and put back into
scikit-learn's objects through their public fitted attributes on load.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

logger = logging.getLogger(__name__)
LATIN_WORD = r"[a-z][a-z']+"
"""English words (after lower-casing); Chinese is covered by the character n-grams."""


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfIntentClassifier(GraphComponent, IntentClassifier):
    """Batch TF-IDF + logistic regression intent classifier."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "C": 20.0,
            "max_iter": 2000,
            "char_min_ngram": 1,
            "char_max_ngram": 3,
            "ranking_length": 10,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn"]

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.words = self._vectorizer(token_pattern=LATIN_WORD)
        span = (int(self.config["char_min_ngram"]), int(self.config["char_max_ngram"]))
        self.chars = self._vectorizer(analyzer="char_wb", ngram_range=span)
        self.clf: LogisticRegression | None = None

    @staticmethod
    def _vectorizer(**options: Any) -> TfidfVectorizer:
        """Lower-cased counts, sublinear tf, smoothed idf, rows scaled to unit length."""
        return TfidfVectorizer(lowercase=True, sublinear_tf=True, **options)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TfidfIntentClassifier:
        return cls(config, model_storage, resource)

    def features(self, texts: list[str]) -> Any:
        """English words and character n-grams side by side, each block unit length."""
        return hstack([self.words.transform(texts), self.chars.transform(texts)], format="csr")

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT)]
        texts = [m.get(TEXT) for m in examples]
        labels = [m.get(INTENT) for m in examples]
        if len(set(labels)) < 2:
            logger.warning("TfidfIntentClassifier needs at least two intents; not trained")
            return self._resource
        features = hstack([self.words.fit_transform(texts), self.chars.fit_transform(texts)], format="csr")
        self.clf = LogisticRegression(C=float(self.config["C"]), max_iter=int(self.config["max_iter"]))
        self.clf.fit(features, labels)
        self.persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        if self.clf is None or not messages:
            return messages
        probabilities = self.clf.predict_proba(self.features([m.get(TEXT) or "" for m in messages]))
        classes = [str(c) for c in self.clf.classes_]
        keep = int(self.config["ranking_length"]) or len(classes)
        order = np.argsort(-probabilities, axis=1)[:, :keep]
        confidences = np.take_along_axis(probabilities, order, axis=1)
        for message, picks, scores in zip(messages, order.tolist(), confidences.tolist(), strict=True):
            ranking = [{"name": classes[i], "confidence": p} for i, p in zip(picks, scores, strict=True)]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages

    def persist(self) -> None:
        if self.clf is None:
            return
        with self._model_storage.write_to(self._resource) as folder:
            (folder / "vocabulary.json").write_text(
                json.dumps(
                    {
                        "words": {k: int(v) for k, v in self.words.vocabulary_.items()},
                        "chars": {k: int(v) for k, v in self.chars.vocabulary_.items()},
                        "classes": [str(c) for c in self.clf.classes_],
                    },
                    ensure_ascii=False,
                ),
                encoding="utf-8",
            )
            np.savez(
                folder / "weights.npz",
                word_idf=self.words.idf_,
                char_idf=self.chars.idf_,
                coef=self.clf.coef_,
                intercept=self.clf.intercept_,
            )

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TfidfIntentClassifier:
        component = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as folder:
                saved = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
                weights = np.load(folder / "weights.npz", allow_pickle=False)
                component.words.set_params(vocabulary=saved["words"])
                component.words.idf_ = weights["word_idf"]
                component.chars.set_params(vocabulary=saved["chars"])
                component.chars.idf_ = weights["char_idf"]
                clf = LogisticRegression()
                clf.classes_ = np.array(saved["classes"])
                clf.coef_ = weights["coef"]
                clf.intercept_ = weights["intercept"]
                component.clf = clf
        except (ValueError, FileNotFoundError, KeyError) as exc:
            logger.warning("TfidfIntentClassifier has no trained state (%s); it will not classify", exc)
        return component

"""Understanding free text without the Rasa server: an in-process classifier for the minutes when
Rasa is not up yet (it needs ~15 s to start) or is down, and the only one when ``nlu.enabled`` is
false (``builtin_client``).

It learns from the same labelled examples as the Rasa model (``nlu/data`` plus the reviewed
ones), so complaint vs consultation vs suggestion vs progress vs a person, and the category, come
from one source of truth. Pure Python and dictionaries, no NumPy: the bot's interpreter does not
carry Rasa's dependencies, and training on ~1 400 examples takes a fraction of a second at start.

The model is the Rasa component's features (English words and character 1-3-grams inside word
boundaries, sublinear TF-IDF, each block scaled to unit length) scored by Complement naive Bayes,
whose weights are sums instead of an iterative fit. On tests/nlu/heldout.yml it scores a little
below the Rasa model (see bench/RESULTS.md); its confidences are a softmax of the class scores at
``SHARPNESS``, chosen so that the dialogue asks to confirm a category when the guess is unsure.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nlu.examples import Example, read_examples
from nlu.types import Classifier, IntentScore, NluClient, NluResult

log = logging.getLogger(__name__)

MAX_CHARS = 1000
"""Longer texts are cut before scoring, as the Rasa client cuts them."""
ALPHA = 0.3
"""Complement naive Bayes smoothing."""
SHARPNESS = 4.0
"""Scale of the class scores before the softmax: higher is more confident."""
RANKING = 10
_LATIN_WORD = re.compile(r"[a-z][a-z']+")


def _words(text: str) -> list[str]:
    return _LATIN_WORD.findall(text)


def _char_grams(text: str, low: int = 1, high: int = 3) -> list[str]:
    """Character n-grams inside whitespace-separated words padded with a space (``char_wb``),
    without the bare padding, which every text has and which says nothing."""
    grams: list[str] = []
    for word in text.split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if len(padded) < n:
                break
            grams.extend(g for i in range(len(padded) - n + 1) if not (g := padded[i : i + n]).isspace())
    return grams


class _Block:
    """One TF-IDF block: its vocabulary's idf, fitted on the training texts."""

    def __init__(self, analyse: Any, texts: Sequence[str]) -> None:
        self.analyse = analyse
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(analyse(text)))
        n = len(texts)
        self.idf = {term: math.log((1 + n) / (1 + count)) + 1.0 for term, count in df.items()}

    def vector(self, text: str) -> dict[str, float]:
        counts = Counter(t for t in self.analyse(text) if t in self.idf)
        weights = {t: (1.0 + math.log(c)) * self.idf[t] for t, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {t: w / norm for t, w in weights.items()} if norm else {}


class FallbackClassifier:
    """TF-IDF + Complement naive Bayes over the NLU's labelled examples."""

    def __init__(self, examples: Sequence[Example], *, alpha: float = ALPHA, sharpness: float = SHARPNESS):
        if len({e.intent for e in examples}) < 2:
            raise ValueError("the fallback classifier needs examples of at least two intents")
        texts = [e.text.lower() for e in examples]
        self.sharpness = sharpness
        self._blocks = (_Block(_words, texts), _Block(_char_grams, texts))
        self.intents = tuple(sorted({e.intent for e in examples}))
        per_class: dict[str, Counter[str]] = {i: Counter() for i in self.intents}
        for text, example in zip(texts, examples, strict=True):
            per_class[example.intent].update(self._features(text))
        every: Counter[str] = Counter()
        for counts in per_class.values():
            every.update(counts)
        total = sum(every.values())
        features = len(every)
        # Complement NB: a class's weight for a feature is -log of the feature's share of every
        # *other* class's mass. Only classes that saw the feature differ from the base weight, so
        # a class's score is its share of ``L * log(T_c)`` minus the sum over seen features.
        self._log_total = {
            i: math.log(total + alpha * features - sum(per_class[i].values())) for i in self.intents
        }
        self._delta: dict[str, dict[str, float]] = defaultdict(dict)
        for intent, counts in per_class.items():
            for feature, mass in counts.items():
                base = every[feature] + alpha
                self._delta[feature][intent] = math.log(base - mass) - math.log(base)

    @classmethod
    def from_files(cls, *paths: Path) -> FallbackClassifier:
        """Trained on every labelled example in the files or folders that exist."""
        examples = [e for path in paths if path.exists() for e in read_examples(path)]
        return cls(examples)

    def _features(self, text: str) -> dict[str, float]:
        found: dict[str, float] = {}
        for index, block in enumerate(self._blocks):
            for term, weight in block.vector(text).items():
                found[f"{index}:{term}"] = weight
        return found

    def rank(self, text: str) -> tuple[IntentScore, ...]:
        """Every intent with a confidence, best first (empty when nothing in the text is known)."""
        features = self._features(text[:MAX_CHARS].lower())
        if not features:
            return ()
        length = sum(features.values())
        scores = {i: length * self._log_total[i] for i in self.intents}
        for feature, weight in features.items():
            for intent, delta in self._delta.get(feature, {}).items():
                scores[intent] -= weight * delta
        best = max(scores.values())  # the joint log-likelihoods, up to a shared constant
        exp = {i: math.exp(self.sharpness * (s - best)) for i, s in scores.items()}
        total = sum(exp.values())
        ranked = sorted(((i, e / total) for i, e in exp.items()), key=lambda p: -p[1])
        return tuple(IntentScore(i, p) for i, p in ranked[:RANKING])


class FallbackNluClient:
    """``NluClient`` over the in-process classifier: it always answers (no entities)."""

    def __init__(self, classifier: FallbackClassifier) -> None:
        self.classifier = classifier

    async def parse(self, text: str) -> NluResult | None:
        text = text.strip()[:MAX_CHARS]
        ranking = self.classifier.rank(text) if text else ()
        if not ranking:
            return None
        return NluResult(text=text, intent=ranking[0], ranking=ranking, classifier=Classifier.BUILTIN)

    async def aclose(self) -> None:
        return None


class NluWithFallback:
    """The Rasa client first; when it has no answer (down, slow, not up yet, breaker open), the
    in-process classifier. ``health`` is the primary's, so /health says whether Rasa is up."""

    def __init__(self, primary: NluClient, fallback: NluClient) -> None:
        self.primary = primary
        self.fallback = fallback

    async def parse(self, text: str) -> NluResult | None:
        result = await self.primary.parse(text)
        if result is not None:
            return result
        return await self.fallback.parse(text)

    def resting(self) -> bool:
        """The primary is resting (its breaker open): the fallback answers for now."""
        resting = getattr(self.primary, "resting", None)
        return bool(resting()) if resting is not None else False

    async def health(self) -> dict[str, Any] | None:
        probe = getattr(self.primary, "health", None)
        return await probe() if probe is not None else None

    async def aclose(self) -> None:
        try:
            await self.primary.aclose()
        finally:
            await self.fallback.aclose()


def training_files(project_dir: Path, reviewed: Path) -> Iterable[Path]:
    """What the Rasa model learns from: the project's data folder and the reviewed examples."""
    return (project_dir / "data", reviewed)


def builtin_client(*paths: Path) -> FallbackNluClient | None:
    """The classifier trained on ``paths`` as a client of its own (no Rasa configured); None,
    logged, when the examples cannot be read: the menus still work."""
    try:
        return FallbackNluClient(FallbackClassifier.from_files(*paths))
    except (OSError, ValueError) as exc:
        log.warning("no built-in NLU classifier (%s); free text is not understood, menus only", exc)
        return None


def with_fallback(primary: NluClient, *paths: Path) -> NluClient:
    """``primary`` backed by a classifier trained on ``paths``; ``primary`` alone (logged) when
    the examples cannot be read, since menus still work without it."""
    try:
        classifier = FallbackClassifier.from_files(*paths)
    except (OSError, ValueError) as exc:
        log.warning("no in-process NLU fallback (%s); free text needs the Rasa server", exc)
        return primary
    return NluWithFallback(primary, FallbackNluClient(classifier))

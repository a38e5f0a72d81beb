"""Classification metrics for ``tousu nlu eval`` and the NLU benchmark (no scikit-learn here: the
bot's interpreter does not carry Rasa's dependencies)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IntentScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Report:
    accuracy: float
    macro_f1: float
    per_intent: dict[str, IntentScores]
    confusions: list[tuple[str, str, int]]

    def as_json(self) -> dict[str, object]:
        return {
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_intent": {
                name: {
                    "precision": round(s.precision, 4),
                    "recall": round(s.recall, 4),
                    "f1": round(s.f1, 4),
                    "support": s.support,
                }
                for name, s in self.per_intent.items()
            },
            "confusions": [{"gold": g, "predicted": p, "count": n} for g, p, n in self.confusions],
        }


def evaluate(
    gold: Sequence[str], predicted: Sequence[str | None], labels: Iterable[str] | None = None
) -> Report:
    """Accuracy, macro-F1 over ``labels`` (default: the gold labels) and the commonest confusions.

    A missing prediction (None: the NLU did not answer) counts as wrong for its gold intent.
    """
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    names = sorted(set(labels) if labels is not None else set(gold))
    pairs = list(zip(gold, predicted, strict=True))
    per_intent: dict[str, IntentScores] = {}
    for name in names:
        tp = sum(1 for g, p in pairs if g == name and p == name)
        fp = sum(1 for g, p in pairs if g != name and p == name)
        fn = sum(1 for g, p in pairs if g == name and p != name)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_intent[name] = IntentScores(precision, recall, f1, tp + fn)
    scored = [s for s in per_intent.values() if s.support]
    macro = sum(s.f1 for s in scored) / len(scored) if scored else 0.0
    accuracy = sum(1 for g, p in pairs if g == p) / len(pairs) if pairs else 0.0
    confusions = Counter((g, p or "(none)") for g, p in pairs if g != p)
    return Report(accuracy, macro, per_intent, [(g, p, n) for (g, p), n in confusions.most_common(10)])

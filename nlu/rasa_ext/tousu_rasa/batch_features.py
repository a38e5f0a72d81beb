"""TF-IDF features and linear scores for a whole batch of texts in a few NumPy calls.

Why: with scikit-learn's vectorizers and SciPy sparse matrices a parse cost ~3 ms whatever the
batch (each sparse matrix built, checked, stacked and normalised costs ~0.1 ms), and
scikit-learn's ``char_wb`` analyzer makes every n-gram as a Python string to look it up in a
dict, which was half the time of a batch of 50 (see bench/RESULTS.md, "NLU").

Here each text's code points go into one array, every window of length n becomes one 64-bit
number (21 bits per code point) looked up in the sorted keys of the trained vocabulary, and the
weights are summed per text with ``reduceat``. The counts are exactly scikit-learn's
(``CountVectorizer(analyzer="char_wb", lowercase=True)`` with n up to 3: lower-cased, split on
whitespace, each word padded with a space either side, no window crossing two padded words);
``tests/nlu/rasa_ext`` compares the two on the training data and on hostile text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
from scipy.sparse import csr_matrix

BITS = 21
"""Unicode code points fit in 21 bits, so three of them fit in one unsigned 64-bit number."""
MAX_N = 3
_EMPTY = np.zeros(0, dtype=np.int64)


class CharGrams:
    """Counts the vocabulary's character n-grams (1 <= n <= 3) in batches of texts."""

    def __init__(self, vocabulary: Mapping[str, int], low: int = 1, high: int = 3) -> None:
        if not 1 <= low <= high <= MAX_N:
            raise ValueError(f"n-gram lengths {low}-{high}: only 1-{MAX_N} fit in 64 bits")
        self.low, self.high = low, high
        self.size = max(vocabulary.values(), default=-1) + 1
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for n in range(low, high + 1):
            grams = [(g, i) for g, i in vocabulary.items() if len(g) == n]
            keys = np.array([_key(g) for g, _ in grams], dtype=np.uint64)
            columns = np.array([i for _, i in grams], dtype=np.int64)
            order = np.argsort(keys, kind="stable")
            self._tables[n] = (keys[order], columns[order])

    def pairs(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(text row, vocabulary column) for every known n-gram occurrence, repeats included."""
        padded: list[str] = []
        lengths: list[int] = []
        owners: list[int] = []
        for row, text in enumerate(texts):
            for word in text.lower().split():
                padded.append(f" {word} ")
                lengths.append(len(word) + 2)
                owners.append(row)
        if not padded:
            return _EMPTY, _EMPTY
        points = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        segment = np.repeat(np.arange(len(lengths)), lengths)
        owner = np.asarray(owners, dtype=np.int64)
        rows_found: list[np.ndarray] = []
        columns_found: list[np.ndarray] = []
        total = len(points)
        for n in range(self.low, self.high + 1):
            table, columns = self._tables[n]
            if not len(table) or total < n:
                continue
            starts = np.arange(total - n + 1)
            starts = starts[segment[starts] == segment[starts + n - 1]]  # inside one padded word
            keys = points[starts]
            for k in range(1, n):
                keys = (keys << np.uint64(BITS)) | points[starts + k]
            at = np.searchsorted(table, keys)
            at[at == len(table)] = 0
            known = table[at] == keys
            rows_found.append(owner[segment[starts[known]]])
            columns_found.append(columns[at[known]])
        if not rows_found:
            return _EMPTY, _EMPTY
        return np.concatenate(rows_found), np.concatenate(columns_found)

    def transform(self, texts: list[str]) -> csr_matrix:
        """The counts as scikit-learn returns them (sorted indices, int64 data)."""
        rows, cols = self.pairs(texts)
        counts = csr_matrix((np.ones(len(rows), dtype=np.int64), (rows, cols)), shape=(len(texts), self.size))
        counts.sum_duplicates()
        return counts


class LatinWords:
    """The vocabulary's words (``token_pattern`` on the lower-cased text), as scikit-learn's
    ``CountVectorizer(token_pattern=...)`` finds them."""

    def __init__(self, vocabulary: Mapping[str, int], token_pattern: str) -> None:
        self.vocabulary = dict(vocabulary)
        self.size = max(self.vocabulary.values(), default=-1) + 1
        self._tokens = re.compile(token_pattern)

    def pairs(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        rows: list[int] = []
        cols: list[int] = []
        vocabulary = self.vocabulary
        for row, text in enumerate(texts):
            for token in self._tokens.findall(text.lower()):
                column = vocabulary.get(token)
                if column is not None:
                    rows.append(row)
                    cols.append(column)
        return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)


def weighted(
    pairs: tuple[np.ndarray, np.ndarray], size: int, idf: np.ndarray, texts: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sublinear tf x idf per (row, column), each row scaled to unit length, sorted by row then
    column: what ``normalize(tf * idf)`` holds for these rows."""
    rows, cols = pairs
    if not len(rows):
        return _EMPTY, _EMPTY, np.zeros(0)
    keys, counts = np.unique(rows * size + cols, return_counts=True)
    rows, cols = np.divmod(keys, size)
    weights = (1.0 + np.log(counts)) * idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=texts))
    return rows, cols, weights / norms[rows]


def linear_scores(
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    offsets: list[int],
    coef_t: np.ndarray,
    intercept: np.ndarray,
    texts: int,
) -> np.ndarray:
    """``features @ coef_t + intercept`` for features given block by block (block i's columns
    start at ``offsets[i]``), each row's terms added in column order as a sparse product does."""
    rows = np.concatenate([b[0] for b in blocks])
    cols = np.concatenate([b[1] + offset for b, offset in zip(blocks, offsets, strict=True)])
    weights = np.concatenate([b[2] for b in blocks])
    scores = np.tile(intercept.astype(np.float64), (texts, 1))
    if not len(rows):
        return scores
    order = np.argsort(rows, kind="stable")  # blocks are each sorted: rows, then columns
    rows, cols, weights = rows[order], cols[order], weights[order]
    firsts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    sums = np.add.reduceat(coef_t[cols] * weights[:, None], firsts, axis=0)
    scores[rows[firsts]] = sums + intercept
    return scores


def _key(gram: str) -> int:
    key = 0
    for char in gram:
        key = (key << BITS) | ord(char)
    return key

"""Throughput of EDA on token ids: the batched tf.data ops vs per-sentence Python loops.

All run the same four ops (synonym replacement, random insertion, random swap, random
deletion; Wei & Zou 2019) at the same rate on the same reviews
(:func:`mtl_utils.text.make_reviews`), in the same run, measured in sentences per second:

* ``tf.data bN``: :func:`mtl_utils.text.naive` in ``to_dataset(..., augment=policy)``, i.e.
  ``batch(N) -> map(policy, AUTOTUNE) -> prefetch``, every op vectorized over the batch
  (training feeds batches of 32; larger batches amortise the per-batch cost);
* ``python ids``: a straightforward per-sentence implementation on lists of token ids
  (``random`` module, the bundled synonym table as a dict), written back into a padded array:
  the fastest per-sentence Python we could write;
* ``python words``: the same ops the way EDA's reference code does them, per sentence on the
  review's words (clean the characters, split, op, join), then words to ids through a dict.

"all four" gives each sentence one op drawn at random (what a policy with four ops does).
Figures only, no asserts: the best of interleaved rounds is kept, which is robust to other
processes on the machine. Run ``python benchmarks/text_eda_throughput.py --help``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mtl_utils  # noqa: E402, F401  (first: TensorFlow without its start-up chatter)

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mtl_utils import text  # noqa: E402
from mtl_utils.data import to_dataset  # noqa: E402


# --------------------------------------------------------- the per-sentence reference
class PythonEDA:
    """EDA one sentence at a time on lists of token ids (no protected words: plain EDA)."""

    def __init__(self, rate: float, max_length: int, seed: int = 0) -> None:
        ids = {w: i for i, w in enumerate(text.VOCABULARY)}
        self.synonyms = {ids[w]: [ids[s] for s in syns] for w, syns in text.SYNONYMS.items()}
        self.rate, self.max_length = rate, max_length
        self.rng = random.Random(seed)

    def count(self, words: list[int]) -> int:
        return max(1, int(self.rate * len(words)))

    def synonym(self, words: list[int]) -> list[int]:
        out = list(words)
        spots = [i for i, w in enumerate(out) if w in self.synonyms]
        for i in self.rng.sample(spots, min(self.count(words), len(spots))):
            out[i] = self.rng.choice(self.synonyms[out[i]])
        return out

    def insert(self, words: list[int]) -> list[int]:
        out = list(words)
        for _ in range(self.count(words)):
            spots = [w for w in out if w in self.synonyms]
            if not spots or len(out) >= self.max_length:
                break
            word = self.rng.choice(self.synonyms[self.rng.choice(spots)])
            out.insert(self.rng.randint(0, len(out) - 1), word)  # as EDA: before a word
        return out

    def swap(self, words: list[int]) -> list[int]:
        out = list(words)
        if len(out) < 2:
            return out
        for _ in range(self.count(words)):
            i, j = self.rng.sample(range(len(out)), 2)
            out[i], out[j] = out[j], out[i]
        return out

    def delete(self, words: list[int]) -> list[int]:
        out = [w for w in words if self.rng.random() >= self.rate]
        return out or [self.rng.choice(words)]

    def run(self, tokens: np.ndarray, ops: list[str]) -> np.ndarray:
        """Every sentence of ``tokens`` through one of ``ops`` (drawn at random)."""
        out = np.zeros_like(tokens)
        for row, ids in enumerate(tokens):
            words = [int(t) for t in ids if t != 0]
            if words:
                new = getattr(self, self.rng.choice(ops))(words)
                out[row, :len(new)] = new
        return out


class PythonWordsEDA(PythonEDA):
    """EDA the way its reference code does it: per sentence on words, then words to ids."""

    def __init__(self, rate: float, max_length: int, seed: int = 0) -> None:
        super().__init__(rate, max_length, seed)
        self.synonyms = {w: list(s) for w, s in text.SYNONYMS.items()}
        self.index = {w: i for i, w in enumerate(text.VOCABULARY)}

    def synonym(self, words: list[str]) -> list[str]:  # EDA: replace every occurrence
        out = list(words)
        candidates = list(set(w for w in words if w in self.synonyms))
        self.rng.shuffle(candidates)
        for word in candidates[:self.count(words)]:
            new = self.rng.choice(self.synonyms[word])
            out = [new if w == word else w for w in out]
        return out

    def run_text(self, sentences: list[str], ops: list[str], length: int) -> np.ndarray:
        out = np.zeros((len(sentences), length), np.int32)
        for row, sentence in enumerate(sentences):
            clean = "".join(c if c.isalpha() or c == " " else " " for c in sentence.lower())
            words = [w for w in clean.split(" ") if w]
            if words:
                new = getattr(self, self.rng.choice(ops))(words)
                ids = [self.index.get(w, 1) for w in " ".join(new).split(" ")][:length]
                out[row, :len(ids)] = ids
        return out


# ------------------------------------------------------------------------- timing
def tf_sentences_per_second(data, ops: list[str], rate: float, batch_size: int,
                            batches: int) -> float:
    policy = text.naive(ops, data.tasks, rate=rate)
    ds = to_dataset(data.train, data.tasks, batch_size, shuffle=False, augment=policy,
                    repeat=True)
    it = iter(ds)
    for _ in range(2):  # warm-up: tracing, thread pools
        next(it)
    start = time.perf_counter()
    count = sum(len(next(it)[0]) for _ in range(batches))
    return count / (time.perf_counter() - start)


def python_sentences_per_second(tokens: np.ndarray, ops: list[str], rate: float) -> float:
    eda = PythonEDA(rate, tokens.shape[1])
    start = time.perf_counter()
    eda.run(tokens, ops)
    return len(tokens) / (time.perf_counter() - start)


def python_words_sentences_per_second(sentences: list[str], ops: list[str], rate: float,
                                     length: int) -> float:
    eda = PythonWordsEDA(rate, length)
    start = time.perf_counter()
    eda.run_text(sentences, ops, length)
    return len(sentences) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reviews", type=int, default=4096, help="reviews to augment")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 512, 4096],
                    help="tf.data batch sizes")
    ap.add_argument("--sentences", type=int, default=131072,
                    help="sentences timed per tf.data pipeline and round")
    ap.add_argument("--rate", type=float, default=0.1, help="EDA's alpha")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; best is shown")
    args = ap.parse_args(argv)

    data = text.make_reviews(args.reviews, seed=0, n_val=1, n_test=1)
    tokens = data.train.images
    sentences = text.decode(tokens)
    length = (tokens != 0).sum(axis=1).mean()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU "
          f"cores; {len(tokens)} reviews of {length:.1f} words (L={tokens.shape[1]}), rate "
          f"{args.rate}; sentences/s, best of {args.rounds} interleaved rounds (higher is "
          "better)")
    cases = {op: [op] for op in text.TEXT_OPS} | {"all four": list(text.TEXT_OPS)}
    kinds = [f"tf.data b{b}" for b in args.batch_sizes] + ["python ids", "python words"]
    best = {(c, k): 0.0 for c in cases for k in kinds}
    for _ in range(args.rounds):
        for case, ops in cases.items():
            for b in args.batch_sizes:
                sps = tf_sentences_per_second(data, ops, args.rate, b,
                                              max(2, args.sentences // b))
                best[(case, f"tf.data b{b}")] = max(best[(case, f"tf.data b{b}")], sps)
            best[(case, "python ids")] = max(best[(case, "python ids")],
                                             python_sentences_per_second(tokens, ops, args.rate))
            best[(case, "python words")] = max(
                best[(case, "python words")],
                python_words_sentences_per_second(sentences, ops, args.rate, tokens.shape[1]))
    header = (f"{'op':<9}" + "".join(f"{k:>15}" for k in kinds)
              + f"{'vs ids':>9}{'vs words':>10}")
    print(header)
    print("-" * len(header))
    for case in cases:
        row = [best[(case, k)] for k in kinds]
        fastest = max(best[(case, f"tf.data b{b}")] for b in args.batch_sizes)
        print(f"{case:<9}" + "".join(f"{v:>15,.0f}" for v in row)
              + f"{fastest / best[(case, 'python ids')]:>8.1f}x"
              + f"{fastest / best[(case, 'python words')]:>9.1f}x")
    print("\nvs ids / vs words: tf.data at its fastest batch size divided by the per-sentence "
          "Python loop on ids / on words. Target (reported, not asserted): >= 10x.")


if __name__ == "__main__":
    main()

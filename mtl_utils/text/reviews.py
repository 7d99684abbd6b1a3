"""Reviews from the grammar (:func:`generate_reviews`) and the review datasets
(:func:`make_reviews`, offline by default; IMDB as the online option).

Introduced in notebook 09.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from mtl_utils.data import MultiTaskData, Split, check_count
from mtl_utils.text.grammar import (
    ARRIVED,
    BOUGHT,
    CONTRAST_AFTER,
    CONTRAST_BEFORE,
    DIMINISHERS,
    DISPLAY,
    DOMAIN_WORDS,
    DOMAINS,
    GENERIC_SUBJECTS,
    GIFT,
    HAPPY,
    HATE,
    INTENSIFIERS,
    LOVE,
    MAX_LENGTH,
    NEGATIVE,
    NEGATORS,
    NUMBERS,
    OOV,
    PAD,
    PLACES,
    PLURALS,
    POSITIVE,
    PROBLEMS,
    RELATIVES,
    TOPICS,
    UNHAPPY,
    UNITS,
    USED,
    VOCABULARY,
    WEEK,
    check_source,
    review_tasks,
    segment_decision,
)
from mtl_utils.text.vocabulary import vectorizer

# ========================================================================= the generator
ZIPF = 1.5  # word k of a synonym group is drawn with weight 1 / (k + 1) ** ZIPF
_CUMULATIVE: dict[int, np.ndarray] = {}


def _draw(rng: np.random.Generator, weights: Sequence[float]) -> int:
    """An index drawn with probabilities proportional to ``weights``."""
    cum = np.cumsum(weights)
    return int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))


def _one(rng: np.random.Generator, words: Sequence[str]) -> str:
    return words[int(rng.integers(len(words)))]


def _zipf(rng: np.random.Generator, group: Sequence[str]) -> str:
    n = len(group)
    if n not in _CUMULATIVE:
        w = 1.0 / np.arange(1, n + 1) ** ZIPF
        _CUMULATIVE[n] = np.cumsum(w / w.sum())
    return group[min(int(np.searchsorted(_CUMULATIVE[n], rng.random(), side="right")), n - 1)]


def _pick(rng: np.random.Generator, groups: Sequence[Sequence[str]]) -> str:
    """A word from a random group of ``groups`` (groups uniform, words Zipf within)."""
    return _zipf(rng, groups[int(rng.integers(len(groups)))])


#: How often each clause form is used: "the X is good", "i like the X", "i recommend this X",
#: "this is a good X", "(no) problems with the X", "i am happy with the X".
CLAUSE_WEIGHTS = (0.38, 0.17, 0.13, 0.1, 0.14, 0.08)


def _agree(noun: str, singular: str, plural: str) -> str:
    return plural if noun in PLURALS else singular


_BE = {"is": "are", "was": "were", "seems": "seem", "feels": "feel", "looks": "look",
       "isnt": "arent", "wasnt": "werent", "this": "these"}


class _Review:
    """One review being generated: its domain, product and clauses."""

    def __init__(self, rng: np.random.Generator, negation: float) -> None:
        self.rng = rng
        self.negation = negation
        self.domain = int(rng.integers(len(TOPICS)))
        products, parts = DOMAINS[TOPICS[self.domain]]
        self.product = _pick(rng, products)
        self.this = _agree(self.product, "this", "these")
        self.parts = parts
        self.recommended = False

    def subject(self) -> str:
        u = self.rng.random()
        groups = self.parts if u < 0.5 else GENERIC_SUBJECTS if u < 0.8 else None
        return self.product if groups is None else _pick(self.rng, groups)

    def modifier(self, negated: bool, verb: bool = False) -> tuple[list[str], float]:
        u = self.rng.random()
        if u < 0.25:  # before a verb only the adverbs that fit ("really like")
            return [_zipf(self.rng, ("really", "truly") if verb else INTENSIFIERS[0])], 2.0
        if u < 0.35 and not negated and not verb:
            return [_pick(self.rng, DIMINISHERS)], 0.5
        return [], 1.0

    def clause(self, sign: int) -> tuple[list[str], float]:
        """An evaluative clause whose meaning is ``sign`` times its weight. Every negator and
        modifier sits at most :data:`SCOPE` words before the evaluative word it changes."""
        rng = self.rng
        negated = rng.random() < self.negation
        surface = -sign if negated else sign  # polarity of the evaluative word itself
        kind = _draw(rng, CLAUSE_WEIGHTS)
        while kind == 2 and self.recommended:  # one recommendation per review
            kind = _draw(rng, CLAUSE_WEIGHTS)
        mod, weight = self.modifier(negated, verb=kind in (1, 2))
        if kind == 0:  # the screen is (not) (very) good
            subj = self.subject()
            adj = _pick(rng, POSITIVE if surface > 0 else NEGATIVE)
            cop = _one(rng, ["is", "was", "seems", "feels", "looks"])
            if not negated:
                verb = [cop]
            elif rng.random() < 0.2:
                verb, mod, weight = ["is", _pick(rng, NEGATORS[4:5])], [], 1.0
            elif rng.random() < 0.5:
                verb = [_one(rng, ["is", "was"]), _pick(rng, NEGATORS[:1])]
            else:
                verb = [_one(rng, ["isnt", "wasnt"])]
            verb = [_agree(subj, w, _BE.get(w, w)) for w in verb]
            return ["the", subj, *verb, *mod, adj], sign * weight
        if kind == 1:  # i (do not) (really) like the battery
            verb = _pick(rng, LOVE[:2] if surface > 0 else HATE)
            neg = [] if not negated else (
                [_one(rng, ["do", "did"]), _pick(rng, NEGATORS[:1])]
                if rng.random() < 0.5 else [_pick(rng, NEGATORS[1:2])])
            return ["i", *neg, *mod, verb, "the", self.subject()], sign * weight
        if kind == 2:  # i (highly) recommend this phone / i would not recommend it
            verb = _zipf(rng, LOVE[2])
            self.recommended = True
            if sign > 0:
                return ["i", *mod, verb, self.this, self.product], sign * weight
            return ["i", "would", _pick(rng, NEGATORS[:1]), verb, self.this, self.product], -1.0
        if kind == 3:  # this is (not) a (very) good phone
            adj = _pick(rng, POSITIVE if surface > 0 else NEGATIVE)
            plural = self.product in PLURALS
            head = [self.this, "are"] if plural else [_one(rng, ["this", "it"]), "is"]
            if negated:
                head = (head + [_pick(rng, NEGATORS[:1])] if rng.random() < 0.5
                        else head[:1] + [_BE["isnt"] if plural else "isnt"])
            article = [] if plural else ["an" if (mod or [adj])[0][0] in "aeiou" else "a"]
            return [*head, *article, *mod, adj, self.product], sign * weight
        if kind == 4:  # problems: "no problems" is the positive form
            noun = _pick(rng, PROBLEMS)
            tail = ["with", "the", self.subject()]
            if sign > 0:
                return ["i", "have", "had", "no", noun, *tail], 1.0
            start = ["there", "are", "some"] if rng.random() < 0.5 else ["i", "have", "had"]
            return [*start, noun, *tail], -1.0
        # i am (not) (very) happy with the fabric
        adj = _pick(rng, HAPPY if surface > 0 else UNHAPPY)
        neg = [_pick(rng, NEGATORS[:1])] if negated else []
        return ["i", "am", *neg, *mod, adj, "with", "the", self.subject()], sign * weight

    def neutral(self) -> list[str]:
        """A clause with no evaluative word."""
        rng, p, this = self.rng, self.product, self.this
        bought, relative = _zipf(rng, BOUGHT), _pick(rng, RELATIVES)
        number, unit = _zipf(rng, NUMBERS), _zipf(rng, UNITS)
        return [
            ["i", bought, this, p, "for", "my", relative],
            ["i", bought, this, p, number, unit, "ago"],
            ["i", "have", _zipf(rng, USED), "it", "for", number, unit],
            ["it", "was", "a", _zipf(rng, GIFT), "for", "my", relative],
            ["we", "use", "the", p, "at", _pick(rng, PLACES)],
            ["the", p, _zipf(rng, ARRIVED), "last", _zipf(rng, WEEK)],
        ][int(rng.integers(6))]


OPENERS: tuple[tuple[str, ...], ...] = (("honestly",), ("frankly",), ("overall",), ("well",),
                                        ("to", "be", "honest"), ("all", "in", "all"),
                                        ("in", "short",))



def generate_reviews(n: int, seed: int = 0, *, contrast: float = 0.3, negation: float = 0.25,
                     max_length: int = MAX_LENGTH
                     ) -> tuple[list[str], dict[str, np.ndarray]]:
    """``n`` review strings from the grammar and the labels they were built with.

    Each review has one to three evaluative clauses, optional neutral clauses and openers, and
    with probability ``contrast`` a contrast word (``but``-type: the part after it decides;
    ``although``-type: the part before it). Otherwise the sum of the clauses decides
    (intensifiers x2, diminishers x0.5); reviews summing to zero or longer than
    ``max_length`` words are drawn again. ``negation``: probability that a clause is negated.

    Returns:
        ``(texts, {"topic": (n,) int32, "sentiment": (n,) int32})``.

    Raises:
        ValueError: ``n`` < 0, probabilities outside ``[0, 1]`` or ``max_length`` < 12.

    Introduced in notebook 09.
    """
    rng = np.random.default_rng(seed)
    return _generate(rng, check_count("n", n, 0), contrast, negation, max_length)


def _generate(rng: np.random.Generator, n: int, contrast: float, negation: float,
              max_length: int) -> tuple[list[str], dict[str, np.ndarray]]:
    for name, p in (("contrast", contrast), ("negation", negation)):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}.")
    check_count("max_length", max_length, 12)
    texts, topic, sentiment = [], [], []
    while len(texts) < n:
        words, display, domain, score = _one_review(rng, contrast, negation)
        if score == 0 or len(words) > max_length:
            continue
        texts.append(display)
        topic.append(domain)
        sentiment.append(int(score > 0))
    return texts, {"topic": np.asarray(topic, np.int32),
                   "sentiment": np.asarray(sentiment, np.int32)}


def _one_review(rng: np.random.Generator, contrast: float, negation: float
                ) -> tuple[list[str], str, int, float]:
    """(words, display string, domain, decision score) of one review."""
    r = _Review(rng, negation)
    k = 1 + _draw(rng, (0.3, 0.45, 0.25))
    split = int(rng.integers(1, k)) if k >= 2 and rng.random() < contrast else 0
    marker = (1 if rng.random() < 0.75 else 2) if split else 0
    first = 1 if rng.random() < 0.5 else -1
    signs = []
    for i in range(k):
        base = first if (not split or i < split) else (-first if rng.random() < 0.85 else first)
        signs.append(base if i == 0 or rng.random() < 0.9 else -base)
    pieces: list[list[str]] = []  # display sentences, each a list of words
    sentence: list[str] = []
    if rng.random() < 0.3:
        sentence += [*OPENERS[int(rng.integers(len(OPENERS)))], ","]
    if rng.random() < 0.4:
        pieces.append(sentence + r.neutral())
        sentence = []
    scores: list[list[float]] = [[]]
    for i, s in enumerate(signs):
        words, score = r.clause(s)
        if i == split and split:
            scores.append([])
            if marker == 1:
                m = _pick(rng, CONTRAST_AFTER)
                if m == "however":
                    pieces.append(sentence)
                    sentence = ["however", ","]
                else:
                    sentence += [",", m]
            else:
                sentence += [",", _pick(rng, CONTRAST_BEFORE)]
        elif i:
            u = rng.random()
            if u < 0.4:
                pieces.append(sentence)
                sentence = []
            else:
                sentence += ["and" if u < 0.8 else _one(rng, ["also", "plus"])]
        sentence += words
        scores[-1].append(score)
    pieces.append(sentence)
    words = [w for p in pieces for w in p if w != ","]
    if not any(w in DOMAIN_WORDS for w in words):
        return words, "", r.domain, 0.0  # no topic evidence: drawn again
    display = " ".join(_display_sentence(p) for p in pieces if p)
    return words, display, r.domain, segment_decision(scores, [marker] if split else [])


def _display_sentence(words: Sequence[str]) -> str:
    text = " ".join(DISPLAY.get(w, w) for w in words).replace(" ,", ",")
    return text[:1].upper() + text[1:] + "."


# ============================================================================== datasets
N_VAL = 500
N_TEST = 1000
#: Reviews go to train, val or test by a hash of their text (5 : 2 : 3 of 10 buckets), so a
#: text never appears in two splits, and val and test do not change with the training size.
_BUCKETS = ("train",) * 5 + ("val",) * 2 + ("test",) * 3


def make_reviews(n: int = 2000, seed: int = 0, *, n_val: int = N_VAL, n_test: int = N_TEST,
                 max_length: int = MAX_LENGTH, contrast: float = 0.3, negation: float = 0.25,
                 source: str = "grammar", num_words: int = 10000) -> MultiTaskData:
    """Short product reviews as ``(L,)`` token ids, with the tasks of :func:`review_tasks`.

    Reviews from :func:`generate_reviews` go to a split by a hash of their text, so no text is
    in two splits and a larger ``n`` only adds training reviews.

    Args:
        n: training-set size.
        seed: the same seed gives the same data.
        n_val, n_test: validation and test sizes (fixed by default, independent of ``n``).
        max_length: ``L``, at least 12; longer generated reviews are drawn again, IMDB's cut.
        contrast, negation: probabilities, see :func:`generate_reviews`.
        source: ``"grammar"`` (offline, the default) or ``"imdb"`` (the Keras IMDB reviews,
            downloaded on first use; sentiment only).
        num_words: IMDB vocabulary size, most frequent words first (``source="imdb"`` only).

    Raises:
        ValueError: bad sizes or probabilities, or an unknown source.
        RuntimeError: ``source="imdb"`` when IMDB cannot be downloaded (offline).

    Introduced in notebook 09.
    """
    check_source(source)
    n, n_val, n_test = (check_count("n", n), check_count("n_val", n_val),
                        check_count("n_test", n_test))
    max_length = check_count("max_length", max_length, 12)
    if source == "imdb":
        return _load_imdb(n, n_val, n_test, seed, max_length, num_words)
    want = {"train": n, "val": n_val, "test": n_test}
    texts: dict[str, list[str]] = {k: [] for k in want}
    labels: dict[str, list[np.ndarray]] = {k: [] for k in want}
    rng = np.random.default_rng(seed)
    while any(len(texts[k]) < want[k] for k in want):
        batch, y = _generate(rng, 512, contrast, negation, max_length)
        for i, t in enumerate(batch):
            k = _BUCKETS[zlib.crc32(t.encode()) % len(_BUCKETS)]
            if len(texts[k]) < want[k]:
                texts[k].append(t)
                labels[k].append(np.array([y["topic"][i], y["sentiment"][i]], np.int32))
    layer = vectorizer(VOCABULARY, max_length)
    splits = {}
    for k in want:
        y = np.stack(labels[k])
        ids = np.asarray(layer(tf.constant(texts[k])), np.int32)
        splits[k] = Split(ids, {"topic": y[:, 0], "sentiment": y[:, 1]})
    return MultiTaskData("reviews", review_tasks(), **splits, info={
        "seed": seed, "max_length": max_length, "source": source, "contrast": contrast,
        "negation": negation, "vocabulary": VOCABULARY})


def _load_imdb(n: int, n_val: int, n_test: int, seed: int, max_length: int,
               num_words: int) -> MultiTaskData:
    num_words = check_count("num_words", num_words, 3)
    try:
        (xtr, ytr), (xte, yte) = keras.datasets.imdb.load_data(
            num_words=num_words, start_char=None, oov_char=1, index_from=1)
        index = keras.datasets.imdb.get_word_index()
    except Exception as err:  # noqa: BLE001 - any download failure means the same thing
        raise RuntimeError(
            f"make_reviews(source='imdb') could not load IMDB ({type(err).__name__}: {err}). "
            "Keras downloads it on first use and this machine seems to be offline. Use "
            "source='grammar' (the default, generated offline, with a labeler that knows "
            "every review's meaning), or place imdb.npz and imdb_word_index.json in "
            "~/.keras/datasets/.") from err
    by_rank = {rank: word for word, rank in index.items()}
    vocab = (PAD, OOV, *(by_rank.get(r, OOV) for r in range(1, num_words - 1)))
    if len(xtr) < n + n_val or len(xte) < n_test:
        raise ValueError(f"IMDB has {len(xtr)} training and {len(xte)} test reviews; asked for "
                         f"{n} + {n_val} and {n_test}.")
    rng = np.random.default_rng(seed)
    tr, te = rng.permutation(len(xtr)), rng.permutation(len(xte))

    def split(x, y, idx) -> Split:
        ids = keras.utils.pad_sequences([x[i] for i in idx], maxlen=max_length,
                                        padding="post", truncating="post", value=0)
        return Split(ids.astype(np.int32), {"sentiment": np.asarray(y)[idx].astype(np.int32)})

    return MultiTaskData("imdb", review_tasks("imdb"), split(xtr, ytr, tr[:n]),
                         split(xtr, ytr, tr[n:n + n_val]), split(xte, yte, te[:n_test]),
                         info={"seed": seed, "max_length": max_length, "source": "imdb",
                               "vocabulary": vocab})



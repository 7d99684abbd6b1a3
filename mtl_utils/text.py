"""Text augmentation for a multi-task model: generated reviews whose meaning is known, EDA on ids.

:func:`make_reviews` generates product reviews (tasks ``topic`` and ``sentiment``) from a small
grammar; :func:`label_tokens` re-derives both labels from any token sequence, so what an op does
to a label is computed (:func:`label_damage`). EDA (Wei & Zou 2019) runs on ``(B, L)`` token ids
(``0`` padding at the end) inside ``tf.data``, vectorized over the batch. Policies
:func:`shared`, :func:`per_task` and :func:`naive` mirror those of :mod:`mtl_utils.augment`.

Introduced in notebook 09.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from mtl_utils.data import MultiTaskData, Split, _check_count
from mtl_utils.policy import check_seed, split_seed
from mtl_utils.tasks import Task, task_dict

PAD, OOV = "", "[UNK]"
DEFAULT_RATE = 0.1  # EDA's recommended alpha
MAX_LENGTH = 32
#: How many tokens after a negator or a modifier the word it changes may sit (VADER uses 3).
SCOPE = 3

# ============================================================================ the lexicon
# Every tuple is a synonym group: its words mean the same to every task (same domain, same
# polarity, same role), so replacing one by another keeps every label. The first word is
# the most frequent; the others get rarer (Zipf), so a few hundred training reviews leave
# many of them unseen, which is where synonym replacement has something to teach.
DOMAINS: dict[str, tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]] = {
    # domain: (product groups, part groups)
    "electronics": (
        (("phone", "smartphone", "handset", "cellphone"),
         ("laptop", "notebook", "ultrabook", "chromebook"),
         ("headphones", "headset", "earphones", "earbuds"),
         ("speaker", "soundbar", "boombox"), ("tablet", "ipad", "ereader"),
         ("camera", "camcorder", "webcam"), ("router", "modem"),
         ("smartwatch", "fitbit")),
        (("battery", "batteries"), ("screen", "display", "monitor"), ("sound", "audio"),
         ("charger", "adapter", "cable"), ("software", "firmware", "app"),
         ("keyboard", "keys"), ("signal", "reception", "connection"),
         ("microphone", "mic"), ("processor", "cpu", "chip"), ("bluetooth", "wifi"),
         ("volume",), ("resolution", "pixels")),
    ),
    "books": (
        (("book", "novel", "paperback", "hardcover", "hardback"),
         ("memoir", "biography", "autobiography"), ("thriller", "mystery", "whodunit"),
         ("cookbook",), ("textbook", "guidebook", "handbook"), ("audiobook",),
         ("anthology", "compilation"), ("comic", "manga")),
        (("plot", "storyline", "narrative"), ("characters", "protagonists", "cast"),
         ("ending", "conclusion", "finale"), ("writing", "prose"),
         ("author", "writer", "novelist"), ("chapters",), ("pages",), ("translation",),
         ("illustrations", "drawings", "artwork"), ("dialogue", "conversations"),
         ("pacing", "tempo"), ("narrator",), ("cover",)),
    ),
    "kitchen": (
        (("blender", "juicer", "mixer"), ("kettle", "teakettle"), ("pan", "skillet", "wok"),
         ("knife", "cleaver"), ("toaster",), ("mug", "cup", "tumbler"),
         ("pot", "saucepan", "stockpot"), ("microwave",), ("grater", "peeler", "slicer"),
         ("thermos", "flask"), ("cutlery", "silverware"), ("airfryer", "fryer")),
        (("handle", "grip"), ("lid",), ("blade", "blades"), ("motor",),
         ("coating", "nonstick"), ("cord", "plug"), ("base", "stand"), ("spout",),
         ("thermostat",), ("jar", "container", "bowl"), ("edge",), ("dial", "knob")),
    ),
    "clothing": (
        (("jacket", "coat", "parka", "blazer"), ("shirt", "tee", "tshirt", "blouse"),
         ("jeans", "trousers", "pants", "chinos"), ("dress", "gown", "skirt"),
         ("shoes", "sneakers", "trainers", "loafers"),
         ("sweater", "jumper", "pullover", "cardigan", "hoodie"), ("scarf", "shawl"),
         ("boots",), ("socks",), ("hat", "cap", "beanie")),
        (("fabric", "material", "cloth", "cotton", "wool"), ("fit", "sizing", "cut"),
         ("stitching", "seams", "stitches"), ("zipper", "zip"), ("colour", "color", "shade"),
         ("collar",), ("sleeves",), ("buttons",), ("sole", "soles", "insole"),
         ("pockets",), ("lining",), ("waist", "waistband"), ("laces",)),
    ),
    "toys": (
        (("toy", "plaything"), ("puzzle", "jigsaw"), ("doll", "dolly"),
         ("lego", "blocks", "bricks"), ("boardgame", "game"), ("robot",), ("kite",),
         ("teddy", "plushie", "plush"), ("scooter", "tricycle"), ("trainset",),
         ("dinosaur",), ("playset", "playhouse")),
        (("pieces", "parts"), ("instructions", "directions"), ("paint", "paintwork"),
         ("wheels",), ("stickers", "decals"), ("figures", "figurines"), ("rules",),
         ("dice",), ("cards",), ("accessories", "extras")),
    ),
}
TOPICS: tuple[str, ...] = tuple(DOMAINS)

POSITIVE: tuple[tuple[str, ...], ...] = (
    ("good", "nice", "decent", "solid", "fine"),
    ("great", "excellent", "superb", "fantastic", "terrific", "outstanding", "wonderful",
     "brilliant", "amazing", "awesome", "stellar", "phenomenal"),
    ("comfortable", "comfy", "cozy"), ("reliable", "dependable", "trustworthy"),
    ("sturdy", "durable", "robust", "tough"),
    ("beautiful", "lovely", "gorgeous", "elegant", "stunning", "attractive"),
    ("fast", "quick", "speedy", "snappy"), ("clear", "crisp", "sharp"),
    ("perfect", "flawless", "ideal", "impeccable"), ("impressive", "remarkable"),
    ("affordable", "reasonable", "inexpensive"),
    ("enjoyable", "fun", "entertaining", "engaging", "gripping"),
    ("useful", "handy", "practical", "convenient"), ("soft", "smooth", "silky"),
)
NEGATIVE: tuple[tuple[str, ...], ...] = (
    ("bad", "poor", "weak", "mediocre", "subpar", "inferior"),
    ("terrible", "awful", "horrible", "dreadful", "atrocious", "abysmal", "lousy",
     "appalling", "horrendous"),
    ("flimsy", "fragile", "rickety"), ("broken", "defective", "faulty", "damaged", "busted"),
    ("ugly", "hideous", "unattractive", "tacky"), ("slow", "sluggish", "laggy"),
    ("boring", "dull", "tedious", "bland"), ("uncomfortable", "itchy", "scratchy"),
    ("disappointing", "underwhelming", "frustrating", "annoying"),
    ("overpriced", "expensive", "pricey", "costly"), ("useless", "pointless", "worthless"),
    ("unreliable", "inconsistent", "erratic"), ("confusing", "unclear", "baffling"),
)
HAPPY: tuple[tuple[str, ...], ...] = (("happy", "pleased", "satisfied", "delighted", "thrilled"),)
UNHAPPY: tuple[tuple[str, ...], ...] = (("unhappy", "dissatisfied", "disappointed",
                                         "displeased"),)
LOVE: tuple[tuple[str, ...], ...] = (("love", "adore"), ("like", "enjoy", "appreciate"),
                                     ("recommend", "endorse"))
HATE: tuple[tuple[str, ...], ...] = (("hate", "loathe", "detest", "despise"),
                                     ("dislike", "resent"))
PROBLEMS: tuple[tuple[str, ...], ...] = (("problems", "issues", "complaints", "faults",
                                          "flaws", "defects"),)
NEGATORS: tuple[tuple[str, ...], ...] = (("not", "never"), ("dont", "didnt"),
                                         ("isnt", "wasnt", "arent", "werent"), ("no",),
                                         ("hardly", "barely", "scarcely"))
INTENSIFIERS: tuple[tuple[str, ...], ...] = (("very", "really", "extremely", "incredibly",
                                              "truly", "super", "exceptionally", "highly"),)
DIMINISHERS: tuple[tuple[str, ...], ...] = (("somewhat", "slightly", "fairly", "rather",
                                             "mildly"),)
#: "X but Y": Y decides. "X although Y": X decides.
CONTRAST_AFTER: tuple[tuple[str, ...], ...] = (("but", "however", "yet"),)
CONTRAST_BEFORE: tuple[tuple[str, ...], ...] = (("although", "though"),)

GENERIC_SUBJECTS: tuple[tuple[str, ...], ...] = (
    ("price", "cost"), ("delivery", "shipping"), ("seller", "vendor", "retailer"),
    ("packaging", "package", "parcel"), ("quality", "build", "craftsmanship"), ("value",),
    ("design", "appearance", "styling"), ("service", "support"), ("size",), ("warranty",),
)
BOUGHT = ("bought", "purchased", "ordered", "got")
RELATIVES: tuple[tuple[str, ...], ...] = (
    ("son", "daughter", "nephew", "niece"), ("wife", "husband", "partner"),
    ("mother", "father", "mom", "dad"), ("friend", "colleague", "neighbour"))
USED = ("used", "tried", "tested")
NUMBERS = ("two", "three", "four")
UNITS = ("days", "weeks", "months")
GIFT = ("gift", "present")
ARRIVED = ("arrived", "came")
WEEK = ("week", "fortnight")
PLACES: tuple[tuple[str, ...], ...] = (("home", "house"), ("work", "office"))
NEUTRAL_GROUPS: tuple[tuple[str, ...], ...] = (
    BOUGHT, *RELATIVES, USED, NUMBERS, UNITS, GIFT, ARRIVED, WEEK, *PLACES,
    ("honestly", "frankly", "truthfully"), ("overall", "altogether"), ("birthday", "anniversary"),
    ("daily", "everyday"), ("item", "product", "purchase"),
)
FUNCTION_WORDS: tuple[str, ...] = (
    "the", "a", "this", "it", "is", "was", "seems", "feels", "looks", "i", "my", "with",
    "for", "and", "also", "plus", "am", "an", "do", "did", "would", "there", "are", "some",
    "about", "have", "had", "we", "use", "at", "last", "in", "after", "well", "to", "be",
    "honest", "all", "short", "ago", "these", "were", "seem", "feel", "look", "box",
)


ROLE_GROUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    **{f"domain:{d}": products + parts for d, (products, parts) in DOMAINS.items()},
    "positive": POSITIVE + HAPPY + LOVE, "negative": NEGATIVE + UNHAPPY + HATE + PROBLEMS,
    "negator": NEGATORS, "intensifier": INTENSIFIERS, "diminisher": DIMINISHERS,
    "contrast_after": CONTRAST_AFTER, "contrast_before": CONTRAST_BEFORE,
    "neutral": GENERIC_SUBJECTS + NEUTRAL_GROUPS + tuple((w,) for w in FUNCTION_WORDS),
}
#: Role of every word of the grammar (``domain:<topic>``, ``positive``, ``negator``, ...).
WORD_ROLES: dict[str, str] = {w: role for role, groups in ROLE_GROUPS.items()
                              for g in groups for w in g}
#: The grammar's vocabulary as ``TextVectorization`` numbers it: padding ``""`` (id 0), the
#: unknown token ``"[UNK]"`` (id 1), then every word (sorted, so ids are stable).
VOCABULARY: tuple[str, ...] = (PAD, OOV, *sorted(WORD_ROLES))
#: The bundled synonym table: each word's synonyms (the other words of its group).
SYNONYMS: dict[str, tuple[str, ...]] = {w: tuple(x for x in g if x != w)
                                        for groups in ROLE_GROUPS.values() for g in groups
                                        for w in g if len(g) > 1}
DOMAIN_WORDS: frozenset[str] = frozenset(w for w, r in WORD_ROLES.items()
                                         if r.startswith("domain:"))
SENTIMENT_WORDS: frozenset[str] = frozenset(
    w for w, r in WORD_ROLES.items() if r in ("positive", "negative", "negator", "intensifier",
                                               "diminisher", "contrast_after",
                                               "contrast_before"))
DISPLAY = {"isnt": "isn't", "wasnt": "wasn't", "arent": "aren't", "werent": "weren't",
           "dont": "don't", "didnt": "didn't", "i": "I"}
#: Plural nouns of the grammar (they take "are", "these").
PLURALS: frozenset[str] = frozenset(w for w, r in WORD_ROLES.items() if r.startswith("domain:")
                                    and (w.endswith("s") and w != "thermos" or w == "dice"))


def review_tasks(source: str = "grammar") -> dict[str, Task]:
    """The tasks of :func:`make_reviews`: ``topic`` (grammar only) and ``sentiment``, which
    declares ``not_invariant_to={"insert"}``: a negator reaches only
    :data:`SCOPE` words ahead, so a word inserted between ``not`` and ``good`` can undo it.

    Args:
        source: ``"grammar"`` (both tasks) or ``"imdb"`` (``sentiment`` only).

    Raises:
        ValueError: an unknown source.

    Introduced in notebook 09.
    """
    _check_source(source)
    sentiment = Task("sentiment", "class", num_classes=2, class_names=("negative", "positive"),
                     not_invariant_to=frozenset({"insert"}), depends_on=SENTIMENT_WORDS)
    if source == "imdb":
        return task_dict([sentiment])
    topic = Task("topic", "class", num_classes=len(TOPICS), class_names=TOPICS,
                 depends_on=DOMAIN_WORDS)
    return task_dict([topic, sentiment])


def _check_source(source: str) -> None:
    if source not in ("grammar", "imdb"):
        raise ValueError(f"unknown review source {source!r}; use 'grammar' (offline, the "
                         "default) or 'imdb' (Keras download).")


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


def _segment_decision(scores: Sequence[Sequence[float]], markers: Sequence[int]) -> float:
    """The review's score from per-segment clause scores and the contrast markers between
    segments (1: "but"-type, the segment before is discounted; 2: "although"-type, the
    segment after is)."""
    discounted = [False] * len(scores)
    for i, m in enumerate(markers):
        discounted[i if m == 1 else i + 1] = True
    kept = [v for s, seg in enumerate(scores) if not discounted[s] for v in seg]
    use = kept or [v for seg in scores for v in seg]
    total = float(sum(use))
    return total if total != 0 else (use[-1] if use else 0.0)


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
    return _generate(rng, _check_count("n", n, 0), contrast, negation, max_length)


def _generate(rng: np.random.Generator, n: int, contrast: float, negation: float,
              max_length: int) -> tuple[list[str], dict[str, np.ndarray]]:
    for name, p in (("contrast", contrast), ("negation", negation)):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}.")
    _check_count("max_length", max_length, 12)
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
    return words, display, r.domain, _segment_decision(scores, [marker] if split else [])


def _display_sentence(words: Sequence[str]) -> str:
    text = " ".join(DISPLAY.get(w, w) for w in words).replace(" ,", ",")
    return text[:1].upper() + text[1:] + "."


# =========================================================================== the labeler
@dataclass(frozen=True)
class Lexicon:
    """What each token id of a vocabulary means to the labeler (arrays indexed by id):
    ``domain`` (topic index or -1), ``polarity`` (+1, -1, 0), ``negator``, ``modifier`` (2
    intensifier, 0.5 diminisher, else 0) and ``contrast`` (1 "but"-type, 2 "although"-type)."""

    vocabulary: tuple[str, ...]
    domain: np.ndarray
    polarity: np.ndarray
    negator: np.ndarray
    modifier: np.ndarray
    contrast: np.ndarray


_LEXICONS: dict[tuple[str, ...], Lexicon] = {}


def lexicon(vocabulary: Sequence[str] | None = None) -> Lexicon:
    """The :class:`Lexicon` of ``vocabulary`` (default :data:`VOCABULARY`), cached; words
    outside the grammar mean nothing.

    Introduced in notebook 09.
    """
    vocab = VOCABULARY if vocabulary is None else tuple(vocabulary)
    if vocab not in _LEXICONS:
        roles = [WORD_ROLES.get(w, "") for w in vocab]
        _LEXICONS[vocab] = Lexicon(
            vocab,
            np.array([TOPICS.index(r[7:]) if r.startswith("domain:") else -1 for r in roles]),
            np.array([1 if r == "positive" else -1 if r == "negative" else 0 for r in roles]),
            np.array([r == "negator" for r in roles]),
            np.array([2.0 if r == "intensifier" else 0.5 if r == "diminisher" else 0.0
                      for r in roles]),
            np.array([1 if r == "contrast_after" else 2 if r == "contrast_before" else 0
                      for r in roles]))
    return _LEXICONS[vocab]


def _label_one(ids: Sequence[int], lex: Lexicon) -> tuple[int, int]:
    """(topic, sentiment) of one token sequence; -1 where the words do not decide it."""
    n_vocab = len(lex.vocabulary)
    counts = np.zeros(len(TOPICS), int)
    first = {}
    terms: list[tuple[int, float]] = []  # (segment, value) per evaluative word
    markers: list[int] = []
    negator_at = modifier_at = -1
    weight = 1.0
    for pos, t in enumerate(ids):
        if not 0 < t < n_vocab:
            continue
        d = lex.domain[t]
        if d >= 0:
            counts[d] += 1
            first.setdefault(d, pos)
        if lex.contrast[t]:
            markers.append(int(lex.contrast[t]))
            negator_at = modifier_at = -1
        elif lex.negator[t]:
            negator_at = pos
        elif lex.modifier[t]:
            modifier_at, weight = pos, float(lex.modifier[t])
        elif lex.polarity[t]:
            v = float(lex.polarity[t])
            if negator_at >= 0 and pos - negator_at <= SCOPE:
                v = -v
            if modifier_at >= 0 and pos - modifier_at <= SCOPE:
                v *= weight
            negator_at = modifier_at = -1
            terms.append((len(markers), v))
    topic = -1
    if counts.max() > 0:
        tied = np.flatnonzero(counts == counts.max())
        topic = int(min(tied, key=lambda d: first[d]))
    scores: list[list[float]] = [[] for _ in range(len(markers) + 1)]
    for seg, v in terms:
        scores[seg].append(v)
    sentiment = int(_segment_decision(scores, markers) > 0) if terms else -1
    return topic, sentiment


def label_tokens(tokens: Any, vocabulary: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Re-derive ``topic`` and ``sentiment`` from token ids with the grammar's rules.

    ``topic``: the domain with the most domain words (ties: the first mentioned).
    ``sentiment``: the sum of the evaluative words, each flipped by a negator and scaled by
    an intensifier or diminisher at most :data:`SCOPE` words before it, with contrast words
    discounting one side (a zero sum goes to the last evaluative word), as in
    :func:`generate_reviews`. Ids outside ``vocabulary`` are ignored.

    Returns:
        ``{"topic": (N,) int32, "sentiment": (N,) int32}``; ``-1`` where no word decides the
        label (every domain word or every evaluative word is gone).

    Raises:
        ValueError: ``tokens`` that are not a 2-D array of integers.

    Introduced in notebook 09.
    """
    ids = np.asarray(tokens)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"label_tokens needs token ids (N, L) of integers; got shape "
                         f"{ids.shape}, dtype {ids.dtype}. Turn strings into ids with "
                         "vectorize(...).")
    lex = lexicon(vocabulary)
    out = np.array([_label_one(row.tolist(), lex) for row in ids], np.int32).reshape(-1, 2)
    return {"topic": out[:, 0], "sentiment": out[:, 1]}


def label_texts(texts: Sequence[str], max_length: int = MAX_LENGTH) -> dict[str, np.ndarray]:
    """:func:`label_tokens` of review strings (vectorized with the grammar's vocabulary).

    Introduced in notebook 09.
    """
    return label_tokens(vectorize(texts, max_length=max_length))


def label_table(texts: Sequence[str], max_length: int = MAX_LENGTH) -> pd.DataFrame:
    """Review strings with the labels :func:`label_texts` gives them, by class name.

    Returns:
        Columns ``text``, ``topic``, ``sentiment`` (``(none)`` where no word decides).

    Introduced in notebook 09.
    """
    y = label_texts(texts, max_length)
    names = {"topic": TOPICS, "sentiment": ("negative", "positive")}
    return pd.DataFrame({"text": list(texts), **{
        k: [names[k][i] if i >= 0 else "(none)" for i in v] for k, v in y.items()}})


# ========================================================================= vectorization
def vectorizer(vocabulary: Sequence[str] | None = None, max_length: int = MAX_LENGTH
               ) -> keras.layers.TextVectorization:
    """A Keras ``TextVectorization`` layer with a fixed vocabulary: strings in, ``(B, L)``
    int token ids out (lowercased, punctuation stripped; ``0`` pads the end, ``1`` is unknown).

    Args:
        vocabulary: ids in order, starting with ``""`` and ``"[UNK]"`` (default
            :data:`VOCABULARY`; ``data.info["vocabulary"]`` for IMDB).

    Raises:
        ValueError: a vocabulary that does not start with the padding and unknown tokens,
            or a ``max_length`` below 1.

    Introduced in notebook 09.
    """
    vocab = _check_vocabulary(vocabulary)
    return keras.layers.TextVectorization(
        standardize="lower_and_strip_punctuation", split="whitespace", output_mode="int",
        output_sequence_length=_check_count("max_length", max_length), vocabulary=list(vocab[2:]))


def _check_vocabulary(vocabulary: Sequence[str] | None) -> tuple[str, ...]:
    """``vocabulary`` (default :data:`VOCABULARY`) as a tuple, checked to start with the
    padding and unknown tokens."""
    vocab = tuple(VOCABULARY if vocabulary is None else vocabulary)
    if vocab[:2] != (PAD, OOV):
        raise ValueError(f"a vocabulary must start with {PAD!r} (padding, id 0) and {OOV!r} "
                         f"(unknown, id 1), as TextVectorization numbers them; got "
                         f"{list(vocab[:2])}.")
    return vocab


def vectorize(texts: Sequence[str], vocabulary: Sequence[str] | None = None,
              max_length: int = MAX_LENGTH) -> np.ndarray:
    """Token ids of ``texts`` through :func:`vectorizer`: ``(N, max_length)`` int32.

    Raises:
        ValueError: as :func:`vectorizer`.

    Introduced in notebook 09.
    """
    layer = vectorizer(vocabulary, max_length)
    if len(texts) == 0:
        return np.zeros((0, max_length), np.int32)
    return np.asarray(layer(tf.constant(list(texts))), np.int32)


def decode(tokens: Any, vocabulary: Sequence[str] | None = None) -> list[str]:
    """``(N, L)`` or ``(L,)`` token ids back to one string per row (padding dropped, ids
    outside the vocabulary shown as ``[UNK]``).

    Introduced in notebook 09.
    """
    vocab = VOCABULARY if vocabulary is None else tuple(vocabulary)
    ids = np.atleast_2d(np.asarray(tokens))
    return [" ".join(vocab[t] if 0 < t < len(vocab) else OOV for t in row if t != 0)
            for row in ids.tolist()]


def string_model(model: keras.Model, layer: keras.layers.TextVectorization) -> keras.Model:
    """``model`` with ``layer`` in front: a ``keras.Model`` taking a ``(B,)`` string tensor.

    Args:
        model: a model on token ids; one with an input per task (per-task views) gets the
            same ids in every input.
        layer: the :func:`vectorizer` whose ids the model was trained on.

    Introduced in notebook 09.
    """
    texts = keras.Input(shape=(), dtype="string", name="text")
    ids = layer(texts)
    inputs = model.input
    out = model({k: ids for k in inputs} if isinstance(inputs, dict) else ids)
    return keras.Model(texts, out, name=f"{model.name}_on_strings")


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
    _check_source(source)
    n, n_val, n_test = (_check_count("n", n), _check_count("n_val", n_val),
                        _check_count("n_test", n_test))
    max_length = _check_count("max_length", max_length, 12)
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
    num_words = _check_count("num_words", num_words, 3)
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


# ================================================================================ EDA ops
@dataclass(frozen=True)
class SynonymTable:
    """A synonym table over a vocabulary's ids, flat for ``tf.data``: token ``t``'s synonyms
    are ``flat[offsets[t]:offsets[t] + counts[t]]`` (int32 arrays)."""

    flat: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray

    @classmethod
    def build(cls, vocabulary: Sequence[str], synonyms: Mapping[str, Sequence[str]]
              ) -> SynonymTable:
        """The table of ``synonyms`` (``{word: [synonym, ...]}``) restricted to
        ``vocabulary`` (synonyms outside it are dropped; padding and ``[UNK]`` have none)."""
        index = {w: i for i, w in enumerate(vocabulary)}
        rows = [[index[x] for x in synonyms.get(w, ()) if x in index and x != w] if i > 1
                else [] for i, w in enumerate(vocabulary)]
        counts = np.array([len(r) for r in rows], np.int32)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
        flat = np.array([x for r in rows for x in r] or [0], np.int32)
        return cls(flat, offsets, counts)

    def tensors(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """``(flat, offsets, counts)`` as constants (inside the traced pipeline)."""
        return tf.constant(self.flat), tf.constant(self.offsets), tf.constant(self.counts)

    def fingerprint(self) -> str:
        """A short checksum of the table (part of a policy's description)."""
        return f"{zlib.crc32(self.flat.tobytes() + self.counts.tobytes()):08x}"


def synonym_table(vocabulary: Sequence[str] | None = None, source: str = "bundled"
                  ) -> dict[str, tuple[str, ...]]:
    """``{word: (synonym, ...)}`` for the words of ``vocabulary`` with synonyms in it.

    Args:
        vocabulary: the words (default :data:`VOCABULARY`).
        source: ``"bundled"`` (:data:`SYNONYMS`, label-preserving for the grammar) or
            ``"wordnet"`` (NLTK, general English, so it can change a label).

    Raises:
        ValueError: an unknown source.
        ImportError: ``source="wordnet"`` without NLTK or its WordNet corpus (the fix is
            in the message; the bundled table needs neither).

    Introduced in notebook 09.
    """
    vocab = VOCABULARY if vocabulary is None else tuple(vocabulary)
    words = set(vocab[2:])
    if source == "bundled":
        table = SYNONYMS
    elif source == "wordnet":
        try:
            from nltk.corpus import wordnet  # optional: only for this source

            wordnet.synsets("good")
        except (ImportError, LookupError) as err:
            raise ImportError(
                "synonym_table(source='wordnet') needs NLTK and its WordNet corpus: pip "
                "install nltk, then python -m nltk.downloader wordnet. The default "
                "source='bundled' needs neither.") from err
        table = {w: tuple(sorted({lemma.name().lower() for s in wordnet.synsets(w)
                                  for lemma in s.lemmas()} - {w})) for w in words}
    else:
        raise ValueError(f"unknown synonym source {source!r}; use 'bundled' or 'wordnet'.")
    out = {w: tuple(s for s in table.get(w, ()) if s in words) for w in vocab[2:]}
    return {w: s for w, s in out.items() if s}


def _rate(rate: Any, where: str) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
        raise ValueError(f"{where}: rate must be a number in (0, 1), the fraction of a "
                         f"review's words the op changes (EDA's alpha; {DEFAULT_RATE} is "
                         f"EDA's recommendation); got {rate!r}.")
    return float(rate)


#: Every text op class by name, filled in as :class:`TextOp` subclasses are defined.
TEXT_OP_CLASSES: dict[str, type[TextOp]] = {}


class TextOp:
    """Base class of the EDA ops on batches of token ids; a subclass with a ``name``
    registers itself. A review of length ``l`` gets ``max(1, floor(rate * l))`` changes;
    ops that move or delete words (``moves_words``) leave protected positions in place.

    Args:
        rate: EDA's ``alpha`` in ``(0, 1)`` (:class:`RandomDeletion` drops each word with
            this probability instead).

    Raises:
        ValueError: a rate outside ``(0, 1)``.

    Introduced in notebook 09.
    """

    name: ClassVar[str] = ""
    moves_words: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            TEXT_OP_CLASSES[cls.name] = cls

    def __init__(self, rate: float = DEFAULT_RATE) -> None:
        self.rate = _rate(rate, type(self).__name__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rate={self.rate:g})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.rate == other.rate  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.rate))

    def count(self, lengths: tf.Tensor) -> tf.Tensor:
        """Changes per review: ``max(1, floor(rate * length))``, 0 for an empty review."""
        n = tf.cast(tf.floor(self.rate * tf.cast(lengths, tf.float32)), tf.int32)
        return tf.where(lengths > 0, tf.maximum(n, 1), 0)

    def steps(self, max_length: int) -> int:
        """The most changes any review of length ``max_length`` gets (a static loop bound)."""
        return max(1, int(math.floor(self.rate * max_length)))

    def apply(self, tokens: tf.Tensor, protect: tf.Tensor, table: tuple[tf.Tensor, tf.Tensor],
              seed: tf.Tensor) -> tf.Tensor:
        """The op on ``(B, L)`` int32 ids (words first, then padding), never deleting or
        moving ``protect``ed positions; ``table`` is :meth:`SynonymTable.tensors`."""
        raise NotImplementedError


def _lengths(tokens: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.cast(tokens != 0, tf.int32), axis=1)


Table = tuple[tf.Tensor, tf.Tensor, tf.Tensor]


def _synonym_counts(tokens: tf.Tensor, table: Table) -> tuple[tf.Tensor, tf.Tensor]:
    """``(offsets, counts)`` of every token's synonyms (ids outside the vocabulary: none)."""
    _, offsets, counts = table
    known = (tokens > 0) & (tokens < tf.shape(counts)[0])
    safe = tf.where(known, tokens, 0)
    return tf.gather(offsets, safe), tf.where(known, tf.gather(counts, safe), 0)


def _pick_synonym(table: Table, offsets: tf.Tensor, counts: tf.Tensor, u: tf.Tensor
                  ) -> tf.Tensor:
    """Synonym number ``floor(u * count)`` (``u`` uniform in [0, 1)); 0 where none."""
    flat = table[0]
    k = tf.minimum(tf.cast(u * tf.cast(counts, tf.float32), tf.int32),
                   tf.maximum(counts - 1, 0))
    at = tf.minimum(offsets + k, tf.shape(flat)[0] - 1)
    return tf.where(counts > 0, tf.gather(flat, at), 0)


def _uniform(shape: Any, seed: tf.Tensor) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed)


class SynonymReplacement(TextOp):
    """EDA's synonym replacement: ``n`` random words that have synonyms become one of them
    (protected ones too: the bundled synonyms keep labels).

    Introduced in notebook 09.
    """

    name = "synonym"

    def apply(self, tokens, protect, table, seed):
        s_pick, s_syn = split_seed(seed, 2)
        offsets, counts = _synonym_counts(tokens, table)
        # the n eligible positions with the largest random keys: keys at or above the n-th
        keys = tf.where(counts > 0, _uniform(tf.shape(tokens), s_pick), -1.0)
        top = tf.math.top_k(keys, k=self.steps(tokens.shape[1])).values
        n = self.count(_lengths(tokens))
        threshold = tf.gather(top, tf.maximum(n - 1, 0)[:, None], batch_dims=1)
        chosen = (counts > 0) & (keys >= threshold) & (n > 0)[:, None]
        new = _pick_synonym(table, offsets, counts, _uniform(tf.shape(tokens), s_syn))
        return tf.where(chosen, new, tokens)


class RandomInsertion(TextOp):
    """EDA's random insertion: ``n`` synonyms of random words of the review go in at random
    positions, all at once (fewer if the review would grow past ``L``); words after shift.

    Introduced in notebook 09.
    """

    name = "insert"

    def apply(self, tokens, protect, table, seed):
        length, steps = tokens.shape[1], self.steps(tokens.shape[1])
        batch = tf.shape(tokens)[0]
        s_src, s_syn, s_slot = split_seed(seed, 3)
        lengths = _lengths(tokens)
        offsets, counts = _synonym_counts(tokens, table)
        has = counts > 0
        # the words to insert: synonyms of `steps` random source words per review
        src = tf.argmax(tf.where(has[:, None], _uniform(tf.stack([batch, steps, length]),
                                                        s_src), -1.0),
                        axis=2, output_type=tf.int32)
        words = _pick_synonym(table, tf.gather(offsets, src, batch_dims=1),
                              tf.gather(counts, src, batch_dims=1),
                              _uniform(tf.stack([batch, steps]), s_syn))
        n = tf.where(tf.reduce_any(has, axis=1),
                     tf.minimum(self.count(lengths), length - lengths), 0)
        # where they go: n random slots of the first lengths + n output positions
        pos = tf.range(length)[None, :]
        keys = tf.where(pos < (lengths + n)[:, None], _uniform(tf.shape(tokens), s_slot), -1.0)
        top = tf.math.top_k(keys, k=steps).values
        threshold = tf.gather(top, tf.maximum(n - 1, 0)[:, None], batch_dims=1)
        new = (keys >= threshold) & (n > 0)[:, None] & (keys >= 0)
        before = tf.cumsum(tf.cast(new, tf.int32), axis=1, exclusive=True)
        inserted = tf.gather(words, tf.minimum(before, steps - 1), batch_dims=1)
        kept = tf.gather(tokens, tf.maximum(pos - before, 0), batch_dims=1)
        return tf.where(new, inserted, kept)


class RandomSwap(TextOp):
    """EDA's random swap: ``n`` disjoint pairs of unprotected words trade places.

    Introduced in notebook 09.
    """

    name = "swap"
    moves_words = True

    def apply(self, tokens, protect, table, seed):
        length, steps = tokens.shape[1], self.steps(tokens.shape[1])
        eligible = (tokens != 0) & ~protect
        keys = tf.where(eligible, _uniform(tf.shape(tokens), seed), -1.0)
        top = tf.math.top_k(keys, k=min(2 * steps, length))
        k = top.indices.shape[1] // 2
        first, second = top.indices[:, 0:2 * k:2], top.indices[:, 1:2 * k:2]
        ok = ((tf.range(k)[None, :] < self.count(_lengths(tokens))[:, None])
              & (top.values[:, 1:2 * k:2] >= 0))  # (B, k) pairs to swap
        # the permutation: position first[p] reads second[p] and the other way round
        pos = tf.range(length)[None, None, :]
        hit_a = (pos == first[:, :, None]) & ok[:, :, None]
        hit_b = (pos == second[:, :, None]) & ok[:, :, None]
        source = (tf.reduce_sum(tf.where(hit_a, second[:, :, None], 0), axis=1)
                  + tf.reduce_sum(tf.where(hit_b, first[:, :, None], 0), axis=1))
        moved = tf.reduce_any(hit_a | hit_b, axis=1)
        return tf.gather(tokens, tf.where(moved, source, pos[0]), batch_dims=1)


class RandomDeletion(TextOp):
    """EDA's random deletion: each unprotected word is dropped with probability ``rate``
    (one random word stays if every word would go).

    Introduced in notebook 09.
    """

    name = "delete"
    moves_words = True

    def apply(self, tokens, protect, table, seed):
        s_drop, s_keep = split_seed(seed, 2)
        valid = tokens != 0
        keep = valid & ~((_uniform(tf.shape(tokens), s_drop) < self.rate) & ~protect)
        survivor = tf.argmax(tf.where(valid, _uniform(tf.shape(tokens), s_keep), -1.0), axis=1,
                             output_type=tf.int32)
        none_left = ~tf.reduce_any(keep, axis=1) & tf.reduce_any(valid, axis=1)
        keep |= none_left[:, None] & (tf.range(tokens.shape[1])[None, :] == survivor[:, None])
        return _compact(tokens, keep)


def _compact(tokens: tf.Tensor, keep: tf.Tensor) -> tf.Tensor:
    """The kept tokens of each row first, in order, then zeros (a scatter: kept token ``j``
    goes to the number of kept tokens before it; the others to a spare last column)."""
    length = tokens.shape[1]
    target = tf.where(keep, tf.cumsum(tf.cast(keep, tf.int32), axis=1, exclusive=True), length)
    rows = tf.broadcast_to(tf.range(tf.shape(tokens)[0])[:, None], tf.shape(tokens))
    out = tf.scatter_nd(tf.stack([rows, target], axis=-1), tf.where(keep, tokens, 0),
                        tf.stack([tf.shape(tokens)[0], length + 1]))
    return out[:, :length]


#: The EDA op names, derived from the op classes.
TEXT_OPS: tuple[str, ...] = tuple(TEXT_OP_CLASSES)


def make_text_op(spec: TextOp | str, rate: float = DEFAULT_RATE) -> TextOp:
    """A :class:`TextOp` from an instance or a name (at ``rate``).

    Raises:
        ValueError: an unknown op name (the known names listed) or a bad rate.
        TypeError: neither a name nor an op.

    Introduced in notebook 09.
    """
    if isinstance(spec, TextOp):
        return spec
    if isinstance(spec, str):
        if spec not in TEXT_OP_CLASSES:
            raise ValueError(f"unknown text op {spec!r}; choose from {', '.join(TEXT_OPS)} "
                             "(EDA's synonym replacement, random insertion, swap and "
                             "deletion).")
        return TEXT_OP_CLASSES[spec](rate)
    raise TypeError(f"a text op must be a name ({', '.join(TEXT_OPS)}) or a TextOp such as "
                    f"RandomSwap(0.2); got {type(spec).__name__}: {spec!r}.")


def _make_ops(ops: Iterable[TextOp | str] | TextOp | str, rate: float, where: str
              ) -> tuple[TextOp, ...]:
    """One op or a list of them (names at ``rate``, checked for ``where``) as op objects."""
    rate = _rate(rate, where)
    return tuple(make_text_op(o, rate) for o in ([ops] if isinstance(ops, (str, TextOp))
                                                 else ops))


# ============================================================================== policies
def _as_text_tasks(tasks: Any) -> dict[str, Task]:
    """Tasks as ``{name: Task}``; every ``not_invariant_to`` name must be a text op."""
    out = task_dict([tasks] if isinstance(tasks, Task) else tasks)
    if not out:
        raise ValueError("a text policy needs at least one Task (got none).")
    for t in out.values():
        unknown = sorted(set(t.not_invariant_to) - set(TEXT_OPS))
        if unknown:
            raise ValueError(f"Task {t.name!r} declares not_invariant_to={unknown}, which are "
                             f"not text ops ({', '.join(TEXT_OPS)}); is it an image task?")
    return out


def _check_known(names: Iterable[str], tasks: Mapping[str, Task], what: str) -> None:
    unknown = [n for n in names if n not in tasks]
    if unknown:
        raise ValueError(f"{what} unknown task {unknown[0]!r}; tasks are {list(tasks)}.")


def _depends_on(tasks: Mapping[str, Task]) -> frozenset[str]:
    """Every word some task's label depends on (what a respectful policy protects)."""
    return frozenset().union(*(t.depends_on for t in tasks.values()))


def _check_tokens(tokens: Any) -> tf.Tensor:
    t = tf.convert_to_tensor(tokens)
    if not t.dtype.is_integer:
        raise TypeError(f"text policies take token ids (B, L) of integers; got dtype "
                        f"{t.dtype.name}. Turn strings into ids with text.vectorize(...) or a "
                        "text.vectorizer() layer.")
    if t.shape.rank != 2 or t.shape[1] is None:
        raise ValueError(f"text policies take a batch of token ids (B, L) with a known L; got "
                         f"shape {t.shape}. Batch the dataset first (to_dataset does).")
    return tf.cast(t, tf.int32)


def _protected_lookup(vocabulary: Sequence[str], words: Iterable[str]) -> np.ndarray:
    words = set(words)
    return np.array([w in words for w in vocabulary], bool)


def _protect_mask(tokens: tf.Tensor, lookup: np.ndarray) -> tf.Tensor:
    table = tf.constant(lookup)
    known = (tokens > 0) & (tokens < len(lookup))
    return known & tf.gather(table, tf.where(known, tokens, 0))


def _run_ops(ops: Sequence[TextOp], tokens: tf.Tensor, lookup: np.ndarray,
             table: SynonymTable, seed: tf.Tensor) -> tf.Tensor:
    """One op per review, drawn uniformly from ``ops`` (EDA gives each augmented sentence
    one op); ``lookup`` marks the protected ids. Each op runs on its own reviews only."""
    if not ops:
        return tokens
    # words first, then padding (a no-op for vectorized text, whose padding is at the end)
    gap = tf.reduce_any((tokens[:, 1:] != 0) & (tokens[:, :-1] == 0))
    tokens = tf.cond(gap, lambda: _compact(tokens, tokens != 0), lambda: tokens)
    protect = _protect_mask(tokens, lookup)
    syn = table.tensors()
    s_choice, *seeds = split_seed(seed, len(ops) + 1)
    if len(ops) == 1:
        return ops[0].apply(tokens, protect, syn, seeds[0])
    choice = tf.random.stateless_uniform(tf.shape(tokens)[:1], s_choice, minval=0,
                                         maxval=len(ops), dtype=tf.int32)
    rows = tf.dynamic_partition(tf.range(tf.shape(tokens)[0]), choice, len(ops))
    parts = zip(tf.dynamic_partition(tokens, choice, len(ops)),
                tf.dynamic_partition(protect, choice, len(ops)))
    outs = [op.apply(x, p, syn, s) for op, (x, p), s in zip(ops, parts, seeds)]
    return tf.ensure_shape(tf.dynamic_stitch(rows, outs), tokens.shape)


class TextPolicy:
    """Base class of the text policies: checks the batch, runs ``_run``, passes labels on.

    Introduced in notebook 09.
    """

    views_per_task = False  # True: returns {task: tokens}, for a model with per-task inputs

    def __init__(self, tasks: Any, *, vocabulary: Sequence[str] | None = None,
                 synonyms: Mapping[str, Sequence[str]] | None = None) -> None:
        self.tasks: dict[str, Task] = _as_text_tasks(tasks)
        self.vocabulary = _check_vocabulary(vocabulary)
        self.synonyms = SYNONYMS if synonyms is None else synonyms
        self.table = SynonymTable.build(self.vocabulary, self.synonyms)

    def _describe_table(self) -> str:
        return f"vocabulary={len(self.vocabulary)} words, synonyms={self.table.fingerprint()}"

    def _run(self, tokens: tf.Tensor, seed: tf.Tensor) -> Any:
        raise NotImplementedError

    # Plain Python over static shapes only: nothing for AutoGraph to convert.
    @tf.autograph.experimental.do_not_convert
    def __call__(self, tokens: Any, labels: Mapping[str, Any], seed: Any):
        """Augment one batch of ``(B, L)`` token ids with a stateless ``[2]`` seed; labels
        (exactly the policy's tasks) pass unchanged.

        Returns:
            ``(tokens, labels)``; ``({task: tokens}, labels)`` for per-task views.

        Raises:
            TypeError / ValueError: non-integer or non-2-D tokens, labels that are not the
                policy's tasks, a bad seed.
        """
        tokens = _check_tokens(tokens)
        if set(labels) != set(self.tasks):
            raise ValueError(f"labels have tasks {sorted(labels)} but the policy was built for "
                             f"{sorted(self.tasks)}; build it with the tasks being trained.")
        return self._run(tokens, check_seed(seed)), dict(labels)


class TextSharedPolicy(TextPolicy):
    """One view for all tasks: each review gets one op drawn uniformly from ``ops`` (``[]``
    is the identity). Unless ``naive``, every task's ``depends_on`` words are protected and
    an op some task declares in ``not_invariant_to`` is refused.

    Raises:
        ValueError: an unknown op, a bad rate, or (unless ``naive``) an op a task is not
            invariant to, naming the task, the op and the fixes.

    Introduced in notebook 09.
    """

    def __init__(self, ops: Iterable[TextOp | str] | TextOp | str, tasks: Any, *,
                 rate: float = DEFAULT_RATE, naive: bool = False,
                 vocabulary: Sequence[str] | None = None,
                 synonyms: Mapping[str, Sequence[str]] | None = None) -> None:
        super().__init__(tasks, vocabulary=vocabulary, synonyms=synonyms)
        self.ops = _make_ops(ops, rate, "text policy")
        self.naive = bool(naive)
        if not self.naive:
            for op in self.ops:
                for t in self.tasks.values():
                    if op.name in t.not_invariant_to:
                        raise ValueError(
                            f"op {op.name!r} would break task {t.name!r}'s label: the task "
                            f"declares not_invariant_to={sorted(t.not_invariant_to)}. Fix: "
                            f"drop {op.name!r} from the policy, use per_task(...) so only "
                            f"the tasks that tolerate it get it, or build with naive=True to "
                            f"apply it anyway (to show what goes wrong).")
        self.protected: frozenset[str] = frozenset() if self.naive else _depends_on(self.tasks)
        self._lookup = _protected_lookup(self.vocabulary, self.protected)

    def __repr__(self) -> str:
        ops = ", ".join(repr(o) for o in self.ops) or "identity"
        extra = ", naive=True" if self.naive else f", protects {len(self.protected)} words"
        return (f"TextSharedPolicy([{ops}], tasks={list(self.tasks)}{extra}, "
                f"{self._describe_table()})")

    def _run(self, tokens, seed):
        return _run_ops(self.ops, tokens, self._lookup, self.table, seed)


class TextPerTaskPolicy(TextPolicy):
    """A view per task: ``views[t]`` (a :class:`TextSharedPolicy` for ``t`` alone) augments
    what task ``t`` sees. Returns ``({task: tokens}, labels)``: one model input per task.

    Raises:
        ValueError: a task without a view, a view for an unknown task, or a view built for
            other tasks.

    Introduced in notebook 09.
    """

    views_per_task = True  # a model fed by it takes one input per task

    def __init__(self, views: Mapping[str, TextSharedPolicy], tasks: Any) -> None:
        first = next(iter(views.values()), None)
        super().__init__(tasks, vocabulary=getattr(first, "vocabulary", None),
                         synonyms=getattr(first, "synonyms", None))
        _check_known(views, self.tasks, "per-task view for")
        missing = [t for t in self.tasks if t not in views]
        if missing:
            raise ValueError(f"task {missing[0]!r} has no view; give every task one (an empty "
                             "op list is the identity view).")
        for name, view in views.items():
            if not isinstance(view, TextSharedPolicy) or list(view.tasks) != [name]:
                raise ValueError(f"the view for task {name!r} must be a text policy built for "
                                 f"exactly that task (got {view!r}).")
        self.views = {t: views[t] for t in self.tasks}

    def __repr__(self) -> str:
        return "TextPerTaskPolicy(" + "; ".join(f"{t}: {v!r}" for t, v in self.views.items()) + ")"

    def _run(self, tokens, seed):
        return {name: view._run(tokens, s) for s, (name, view)
                in zip(split_seed(seed, len(self.views)), self.views.items())}


def shared(ops: Iterable[TextOp | str] | TextOp | str, tasks: Any, *,
           rate: float = DEFAULT_RATE, naive: bool = False,
           vocabulary: Sequence[str] | None = None,
           synonyms: Mapping[str, Sequence[str]] | None = None) -> TextSharedPolicy:
    """One EDA view for all tasks (a :class:`TextSharedPolicy`), e.g.
    ``shared(["synonym", "swap", "delete"], tasks)``.

    Raises:
        ValueError: as :class:`TextSharedPolicy`.

    Introduced in notebook 09.
    """
    return TextSharedPolicy(ops, tasks, rate=rate, naive=naive, vocabulary=vocabulary,
                            synonyms=synonyms)


def naive(ops: Iterable[TextOp | str] | TextOp | str, tasks: Any, *,
          rate: float = DEFAULT_RATE, vocabulary: Sequence[str] | None = None,
          synonyms: Mapping[str, Sequence[str]] | None = None) -> TextSharedPolicy:
    """Plain EDA, blind to the tasks: ``shared(ops, tasks, naive=True)`` (no protected
    words, nothing refused).

    Raises:
        ValueError: an unknown op or a bad rate.

    Introduced in notebook 09.
    """
    return shared(ops, tasks, rate=rate, naive=True, vocabulary=vocabulary, synonyms=synonyms)


def per_task(ops_by_task: Mapping[str, Iterable[TextOp | str] | TextSharedPolicy], tasks: Any,
             *, default: Iterable[TextOp | str] = (), rate: float = DEFAULT_RATE,
             naive: bool = False, vocabulary: Sequence[str] | None = None,
             synonyms: Mapping[str, Sequence[str]] | None = None) -> TextPerTaskPolicy:
    """A view per task (a :class:`TextPerTaskPolicy`), e.g.
    ``per_task({"topic": TEXT_OPS, "sentiment": ["synonym"]}, tasks)``.

    ``ops_by_task`` maps a task to its ops (checked against, and protecting, that task only)
    or to a policy for it; tasks missing from it get ``default``.

    Raises:
        ValueError: an unknown task name, or any :func:`shared` error for a view.

    Introduced in notebook 09.
    """
    all_tasks = _as_text_tasks(tasks)
    _check_known(ops_by_task, all_tasks, "per_task got ops for")
    views = {}
    for name, task in all_tasks.items():
        spec = ops_by_task.get(name, default)
        views[name] = spec if isinstance(spec, TextPolicy) else TextSharedPolicy(
            spec, [task], rate=rate, naive=naive, vocabulary=vocabulary, synonyms=synonyms)
    return TextPerTaskPolicy(views, all_tasks)


def augment_tokens(tokens: Any, ops: Iterable[TextOp | str] | TextOp | str, *,
                   protected: Iterable[str] = (), rate: float = DEFAULT_RATE, seed: int = 0,
                   vocabulary: Sequence[str] | None = None,
                   synonyms: Mapping[str, Sequence[str]] | None = None) -> np.ndarray:
    """EDA ops on ``(N, L)`` token ids outside a pipeline, with any ``protected`` words and no
    task checks; returns ``(N, L)`` int32.

    Args:
        ops: op objects or names; each review gets one, drawn uniformly.
        protected: words that ``swap`` and ``delete`` never move or drop.
        rate: EDA's ``alpha`` for ops given by name (op objects keep their own).
        seed: the same seed gives the same output.
        vocabulary: the words of the ids (default :data:`VOCABULARY`).
        synonyms: ``{word: [synonym, ...]}`` for ``synonym`` and ``insert`` (default
            :data:`SYNONYMS`).

    Raises:
        ValueError / TypeError: an unknown op, a bad rate, or tokens that are not ``(N, L)``
            integers.

    Introduced in notebook 09.
    """
    vocab = tuple(VOCABULARY if vocabulary is None else vocabulary)
    ops = _make_ops(ops, rate, "augment_tokens")
    table = SynonymTable.build(vocab, SYNONYMS if synonyms is None else synonyms)
    x = _check_tokens(np.asarray(tokens))
    return _run_ops(ops, x, _protected_lookup(vocab, protected), table,
                    check_seed(int(seed))).numpy()


# ================================================================== what ops do to labels
def _labels_before(tokens: Any, tasks: Iterable[Task] | Mapping[str, Task] | None,
                   vocabulary: Sequence[str] | None
                   ) -> tuple[dict[str, Task], frozenset[str], dict[str, np.ndarray], list[str]]:
    """(tasks, the words they depend on, labels of ``tokens``, the tasks those labels cover)."""
    tasks = task_dict(review_tasks() if tasks is None else tasks)
    before = label_tokens(tokens, vocabulary)
    return tasks, _depends_on(tasks), before, [t for t in tasks if t in before]


def label_effects(tasks: Iterable[Task] | Mapping[str, Task], ops: Sequence[str] = TEXT_OPS
                  ) -> pd.DataFrame:
    """What each task *declares* about each op (rows) per task (columns): ``"breaks"``,
    ``"kept (its words stay)"`` (a respectful policy protects its words) or ``"kept"``.

    Raises:
        ValueError: an unknown op name.

    Introduced in notebook 09.
    """
    tasks = task_dict(tasks)
    ops = [make_text_op(o).name for o in ops]

    def effect(t: Task, op: str) -> str:
        if op in t.not_invariant_to:
            return "breaks"
        return "kept (its words stay)" if TEXT_OP_CLASSES[op].moves_words and t.depends_on \
            else "kept"

    return pd.DataFrame({n: [effect(t, op) for op in ops] for n, t in tasks.items()},
                        index=pd.Index(ops, name="op"))


def label_damage(tokens: Any, tasks: Iterable[Task] | Mapping[str, Task] | None = None,
                 ops: Sequence[str] = TEXT_OPS, rates: Sequence[float] = (0.1, 0.2, 0.3), *,
                 seed: int = 0, vocabulary: Sequence[str] | None = None) -> pd.DataFrame:
    """How often each op, at each rate, changes a label, re-derived by :func:`label_tokens`,
    ``naive`` and ``protected`` (every task's ``depends_on`` words kept, as in :func:`shared`).

    Returns:
        Rows ``(op, task)``, columns ``(policy, rate)``: percent of labels changed.

    Introduced in notebook 09.
    """
    tasks, protected, before, names = _labels_before(tokens, tasks, vocabulary)
    out = {}
    for mode, words in (("naive", frozenset()), ("protected", protected)):
        for rate in rates:
            col = []
            for op in ops:
                after = label_tokens(augment_tokens(tokens, [op], protected=words, rate=rate,
                                                    seed=seed, vocabulary=vocabulary),
                                     vocabulary)
                col += [100.0 * float(np.mean(after[t] != before[t])) for t in names]
            out[(mode, rate)] = col
    index = pd.MultiIndex.from_product([list(ops), names], names=["op", "task"])
    table = pd.DataFrame(out, index=index)
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["policy", "rate"])
    return table


def side_by_side(tokens: Any, tasks: Iterable[Task] | Mapping[str, Task] | None = None,
                 ops: Sequence[str] = TEXT_OPS, *, rate: float = 0.2, seed: int = 0,
                 max_words: int = 14, vocabulary: Sequence[str] | None = None
                 ) -> pd.DataFrame:
    """One short review per op, before and after it, naive and protected, with the labels
    :func:`label_tokens` gives each (``old -> new`` where one changed): the first review of at
    most ``max_words`` words whose label the naive op changed, if any.

    Returns:
        Columns ``op, version, text`` and one per task.

    Introduced in notebook 09.
    """
    ids = np.asarray(tokens)
    short = ids[(ids != 0).sum(axis=1) <= max_words]
    tasks, protected, before, names = _labels_before(short, tasks, vocabulary)

    def show(task: str, old: int, new: int) -> str:
        def cls(i: int) -> str:
            return tasks[task].class_names[i] if i >= 0 else "(none)"
        return cls(old) if old == new else f"{cls(old)} -> {cls(new)}"

    rows = []
    for op in ops:
        kw = dict(rate=rate, seed=seed, vocabulary=vocabulary)
        versions = {"naive": augment_tokens(short, [op], **kw),
                    "protected": augment_tokens(short, [op], protected=protected, **kw)}
        after = {k: label_tokens(v, vocabulary) for k, v in versions.items()}
        changed = np.flatnonzero(np.any([after["naive"][t] != before[t] for t in names], 0))
        i = int(changed[0]) if len(changed) else 0
        rows.append({"op": op, "version": "original", "text": decode(short[i], vocabulary)[0],
                     **{t: show(t, before[t][i], before[t][i]) for t in names}})
        for k, v in versions.items():
            rows.append({"op": op, "version": k, "text": decode(v[i], vocabulary)[0],
                         **{t: show(t, before[t][i], after[k][t][i]) for t in names}})
    return pd.DataFrame(rows)

"""The review grammar's lexicon: every word, its role (topic domain, polarity, negator,
modifier, contrast, neutral) and its synonym group; the tasks it defines and the rule that
decides a review's sentiment from its parts.

Introduced in notebook 09.
"""

from __future__ import annotations

from collections.abc import Sequence

from mtl_utils.tasks import Task, task_dict

PAD, OOV = "", "[UNK]"
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
    check_source(source)
    sentiment = Task("sentiment", "class", num_classes=2, class_names=("negative", "positive"),
                     not_invariant_to=frozenset({"insert"}), depends_on=SENTIMENT_WORDS)
    if source == "imdb":
        return task_dict([sentiment])
    topic = Task("topic", "class", num_classes=len(TOPICS), class_names=TOPICS,
                 depends_on=DOMAIN_WORDS)
    return task_dict([topic, sentiment])


def check_source(source: str) -> None:
    """Raise ``ValueError`` unless ``source`` is ``"grammar"`` or ``"imdb"``.

    Introduced in notebook 09.
    """
    if source not in ("grammar", "imdb"):
        raise ValueError(f"unknown review source {source!r}; use 'grammar' (offline, the "
                         "default) or 'imdb' (Keras download).")


def segment_decision(scores: Sequence[Sequence[float]], markers: Sequence[int]) -> float:
    """The grammar's sentiment rule: the review's score from per-segment clause scores and
    the contrast markers between segments (1: "but"-type, the segment before is
    discounted; 2: "although"-type, the segment after is); a zero sum goes to the last
    clause. The generator and the labeler both apply it.

    Introduced in notebook 09.
    """
    discounted = [False] * len(scores)
    for i, m in enumerate(markers):
        discounted[i if m == 1 else i + 1] = True
    kept = [v for s, seg in enumerate(scores) if not discounted[s] for v in seg]
    use = kept or [v for seg in scores for v in seg]
    total = float(sum(use))
    return total if total != 0 else (use[-1] if use else 0.0)


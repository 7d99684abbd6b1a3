"""Tests of mtl_utils.text: the review grammar and its labeler, vectorization, and EDA on
token ids (one promise per test; properties with hypothesis)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mtl_utils import text  # noqa: E402
from mtl_utils.data import to_dataset  # noqa: E402
from mtl_utils.tasks import Task  # noqa: E402

PROPS = settings(max_examples=25, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow])
TASKS = text.review_tasks()
V = len(text.VOCABULARY)
ID = {w: i for i, w in enumerate(text.VOCABULARY)}
L = 12


@pytest.fixture(scope="module")
def reviews():
    return text.make_reviews(200, seed=3, n_val=50, n_test=300)


def labels_of(sentence: str) -> tuple[str, str]:
    y = text.label_texts([sentence])
    topic, sentiment = int(y["topic"][0]), int(y["sentiment"][0])
    return (text.TOPICS[topic] if topic >= 0 else None,
            ("negative", "positive")[sentiment] if sentiment >= 0 else None)


# ---------------------------------------------------------------------- the labeler
@pytest.mark.parametrize("sentence, want", [
    ("The screen is great.", ("electronics", "positive")),
    ("The screen isn't great.", ("electronics", "negative")),
    ("I don't like the plot.", ("books", "negative")),
    ("I have had no problems with the zipper.", ("clothing", "positive")),
    ("There are some problems with the lid.", ("kitchen", "negative")),
    # an intensifier counts double, a diminisher half
    ("The fabric is good and the zipper is very bad.", ("clothing", "negative")),
    ("The fabric is very good and the zipper is bad.", ("clothing", "positive")),
    ("The fabric is somewhat good and the zipper is bad.", ("clothing", "negative")),
    # "but": the part after it decides; "although": the part before it does
    ("The plot is great, but the ending is awful.", ("books", "negative")),
    ("The plot is awful, but the ending is great.", ("books", "positive")),
    ("The blender is great, although the lid is flimsy.", ("kitchen", "positive")),
    ("The kettle isn't bad, but the handle is not very sturdy.", ("kitchen", "negative")),
    # a negator reaches SCOPE (3) words ahead
    ("The toy is not shiny or great.", ("toys", "negative")),
    ("The toy is not shiny and red and great.", ("toys", "positive")),
])
def test_labeler_reads_negation_intensifiers_and_contrast(sentence, want):
    assert labels_of(sentence) == want


def test_labeler_says_none_when_no_word_decides():
    assert labels_of("I bought it for my son.") == (None, None)
    assert labels_of("") == (None, None)
    assert labels_of("The laptop and the book and the novel.")[0] == "books"  # most mentions


def test_labeler_gives_every_generated_review_the_label_it_was_built_with():
    texts, y = text.generate_reviews(1500, seed=11)
    got = text.label_texts(texts)
    assert np.array_equal(got["topic"], y["topic"])
    assert np.array_equal(got["sentiment"], y["sentiment"])


def test_labeler_rejects_strings():
    with pytest.raises(ValueError, match="vectorize"):
        text.label_tokens(np.array(["the screen"]))


# ------------------------------------------------------------------------ the data
def test_lexicon_gives_each_word_one_role_and_synonyms_share_it():
    words = [w for groups in text.ROLE_GROUPS.values() for g in groups for w in g]
    assert len(words) == len(set(words)), "a word in two groups"
    assert 300 <= V <= 2000
    for w, syns in text.SYNONYMS.items():
        assert all(text.WORD_ROLES[s] == text.WORD_ROLES[w] for s in syns), w


def test_make_reviews_is_deterministic_with_disjoint_nested_splits(reviews):
    again = text.make_reviews(200, seed=3, n_val=50, n_test=300)
    bigger = text.make_reviews(400, seed=3, n_val=50, n_test=300)
    other = text.make_reviews(200, seed=4, n_val=50, n_test=300)
    for split in ("train", "val", "test"):
        a, b = reviews.split(split), again.split(split)
        assert np.array_equal(a.images, b.images)
        assert all(np.array_equal(a.labels[t], b.labels[t]) for t in TASKS)
    assert np.array_equal(bigger.train.images[:200], reviews.train.images)
    assert np.array_equal(bigger.test.images, reviews.test.images)
    assert not np.array_equal(other.train.images, reviews.train.images)
    rows = {s: {r.tobytes() for r in reviews.split(s).images} for s in ("train", "val", "test")}
    assert not rows["train"] & rows["test"] and not rows["train"] & rows["val"]
    assert not rows["val"] & rows["test"]
    assert reviews.image_shape == (text.MAX_LENGTH,)
    assert reviews.train.images.dtype == np.int32 and set(reviews.tasks) == {"topic", "sentiment"}


def test_make_reviews_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n must be"):
        text.make_reviews(0)
    with pytest.raises(ValueError, match="negation must be a probability"):
        text.make_reviews(10, negation=1.5)
    with pytest.raises(ValueError, match="unknown review source"):
        text.make_reviews(10, source="amazon")


def test_imdb_offline_fails_naming_the_offline_default(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.imdb, "load_data", offline)
    with pytest.raises(RuntimeError, match="source='grammar'") as err:
        text.make_reviews(100, source="imdb")
    assert "offline" in str(err.value) and "OSError" in str(err.value)


def test_wordnet_synonyms_need_nltk_or_say_how():
    try:
        import nltk  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install nltk"):
            text.synonym_table(source="wordnet")
    assert text.synonym_table()["great"] == text.SYNONYMS["great"]


# ------------------------------------------------------------------- vectorization
def test_vectorizer_strips_case_and_punctuation_and_marks_unknown_words():
    ids = text.vectorize(["The screen ISN'T great, but... zorblax!"], max_length=8)
    assert ids.shape == (1, 8) and ids.dtype == np.int32
    assert text.decode(ids) == ["the screen isnt great but [UNK]"]
    assert ids[0, 5] == 1 and list(ids[0, 6:]) == [0, 0]
    assert text.vectorizer().get_vocabulary() == list(text.VOCABULARY)
    with pytest.raises(ValueError, match="must start with"):
        text.vectorizer(["a", "b"])


def test_string_model_takes_review_strings():
    from mtl_utils.models import build_shared_model

    model = build_shared_model(TASKS, (16,), encoder="text_cnn", filters=(8,), hidden=8,
                               per_task_inputs=True, encoder_options={"vocab_size": V})
    out = text.string_model(model, text.vectorizer(max_length=16))(
        tf.constant(["The plot is great.", "I don't like the kettle."]))
    assert out["topic"].shape == (2, 5) and out["sentiment"].shape == (2, 2)


# ------------------------------------------------------------------- op properties
POOL = [ID[w] for w in ("the", "screen", "is", "not", "great", "but", "battery", "bad", "i",
                        "really", "like", "plot", "very", "good")] + [1, V + 7]


@st.composite
def token_batches(draw):
    rows = draw(st.lists(st.lists(st.sampled_from(POOL), min_size=0, max_size=L),
                         min_size=1, max_size=6))
    out = np.zeros((len(rows), L), np.int32)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def run_op(op, tokens, protected=frozenset(), seed=0):
    table = text.SynonymTable.build(text.VOCABULARY, text.SYNONYMS)
    lookup = np.array([w in protected for w in text.VOCABULARY])
    out, _ = text.run_text_ops([op], tf.constant(tokens), lookup, table,
                               tf.constant([0, seed], tf.int64))
    return out.numpy()


def words_of(row):
    return [int(t) for t in row if t != 0]


def is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@PROPS
@given(token_batches(), st.sampled_from(text.TEXT_OPS), st.floats(0.05, 0.6),
       st.integers(0, 2**16), st.booleans())
def test_ops_keep_padding_at_the_end_and_lengths_within_l(tokens, name, rate, seed, protect):
    protected = text.SENTIMENT_WORDS if protect else frozenset()
    out = run_op(text.make_text_op(name, rate), tokens, protected, seed)
    assert out.shape == tokens.shape and out.dtype == np.int32
    for before, after in zip(tokens, out):
        n = int((after != 0).sum())
        assert np.all(after[:n] != 0) and np.all(after[n:] == 0), "padding inside a review"
        old = words_of(before)
        if not old:
            assert n == 0, "an empty review grew words"
        elif name == "delete":
            assert 1 <= n <= len(old) and is_subsequence(words_of(after), old)
        elif name == "insert":
            assert len(old) <= n <= L and is_subsequence(old, words_of(after))
        else:
            assert n == len(old)
            if name == "swap":
                assert sorted(words_of(after)) == sorted(old)


@PROPS
@given(token_batches(), st.sampled_from(["swap", "delete"]), st.floats(0.05, 0.6),
       st.integers(0, 2**16))
def test_protected_words_are_never_deleted_or_moved(tokens, name, rate, seed):
    protected = text.SENTIMENT_WORDS
    is_protected = np.isin(tokens, [ID[w] for w in protected])
    out = run_op(text.make_text_op(name, rate), tokens, protected, seed)
    for before, after, mask in zip(tokens, out, is_protected):
        if name == "swap":  # every protected word where it was
            assert np.array_equal(after[mask], before[mask])
        else:  # every protected word still there, in order
            kept = [t for t in after if t in set(before[mask].tolist())]
            assert kept == before[mask].tolist()


@PROPS
@given(token_batches(), st.floats(0.05, 0.9), st.integers(0, 2**16))
def test_synonym_replacement_swaps_only_synonyms_and_leaves_unknown_tokens(tokens, rate, seed):
    out = run_op(text.SynonymReplacement(rate), tokens, seed=seed)
    for a, b in zip(tokens.ravel(), out.ravel()):
        if a != b:
            assert text.VOCABULARY[b] in text.SYNONYMS[text.VOCABULARY[a]]
        if a in (0, 1) or a >= V:
            assert a == b


# ------------------------------------------------- the ops draw what EDA's definitions say
def copies(words, rows=6000, length=L):
    """``rows`` copies of one review of ``words``: each row draws its own randomness."""
    out = np.zeros((rows, length), np.int32)
    out[:, :len(words)] = [ID[w] for w in words]
    return out


def assert_frequencies(outcomes, expected, rows):
    """Each outcome's share within 4.5 standard errors of its probability, and nothing
    else drawn."""
    assert set(outcomes) <= set(expected), set(outcomes) - set(expected)
    for key, p in expected.items():
        share = outcomes.get(key, 0) / rows
        assert abs(share - p) < 4.5 * np.sqrt(p * (1 - p) / rows), (key, share, p)


def tally(rows):
    out: dict = {}
    for r in rows:
        out[tuple(r)] = out.get(tuple(r), 0) + 1
    return out


def test_distinct_ranks_draw_every_subset_alike():
    count = tf.fill([9000], 5)
    ranks = text.distinct_ranks(count, tf.fill([9000], 2), 3, tf.constant([4, 2], tf.int64))
    ranks = ranks.numpy()
    assert np.all(ranks[:, 0] == -1) and np.all(ranks[:, 1:] >= 0)
    assert np.all(ranks[:, 1] != ranks[:, 2])
    pairs = tally(np.sort(ranks[:, 1:], axis=1))
    assert_frequencies(pairs, {(i, j): 1 / 10 for i in range(5) for j in range(i + 1, 5)},
                       9000)


def test_synonym_replacement_changes_n_random_words_that_have_synonyms():
    # 4 words with synonyms among 5; rate 0.5 of 5 words: n = 2 distinct positions
    words = ["great", "plot", "is", "very", "good"]
    assert [w in text.SYNONYMS for w in words] == [True, True, False, True, True]
    tokens = copies(words)
    out = run_op(text.SynonymReplacement(0.5), tokens, seed=11)
    changed = out != tokens
    assert np.all(changed.sum(1) == 2) and not changed[:, 2].any()
    for a, b in zip(tokens[changed], out[changed]):
        assert text.VOCABULARY[b] in text.SYNONYMS[text.VOCABULARY[a]]
    assert_frequencies(tally(np.argwhere(changed)[:, 1].reshape(-1, 2)),
                       {(i, j): 1 / 6 for i in (0, 1, 3, 4) for j in (0, 1, 3, 4) if i < j},
                       len(tokens))


def _eda_swaps(n_words: int, swaps: int) -> dict:
    """The exact distribution of EDA's random swap: ``swaps`` times, two distinct random
    positions trade places (enumerated)."""
    import itertools

    pairs = [(i, j) for i in range(n_words) for j in range(n_words) if i != j]
    out: dict = {}
    for seq in itertools.product(pairs, repeat=swaps):
        order = list(range(n_words))
        for i, j in seq:
            order[i], order[j] = order[j], order[i]
        out[tuple(order)] = out.get(tuple(order), 0) + 1 / len(pairs) ** swaps
    return out


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_random_swap_draws_edas_sequence_of_swaps(rate):
    # 4 distinct words: rate 0.2 swaps once, rate 0.5 twice (a word may move twice)
    words = ["plot", "screen", "battery", "kettle"]
    tokens = copies(words, rows=8000)
    out = run_op(text.RandomSwap(rate), tokens, seed=5)
    order = np.array([[words.index(text.VOCABULARY[t]) for t in row[:4]] for row in out])
    assert np.all(out[:, 4:] == 0)
    assert_frequencies(tally(order), _eda_swaps(4, max(1, int(rate * 4))), len(tokens))


def test_random_insertion_puts_a_synonym_of_a_random_word_before_a_random_word():
    words = ["great", "is", "plot"]  # "is" has no synonyms
    tokens = copies(words, rows=8000)
    out = run_op(text.RandomInsertion(0.2), tokens, seed=2)
    assert np.all((out != 0).sum(1) == 4)
    slots, sources = [], []
    for row in out:
        new = [text.VOCABULARY[t] for t in row[:4]]
        for slot in range(4):  # the one word whose removal gives the review back
            if new[:slot] + new[slot + 1:] == words:
                source = [w for w in ("great", "plot") if new[slot] in text.SYNONYMS[w]]
                if source:
                    slots.append(slot)
                    sources.append(source[0])
                    break
        else:
            raise AssertionError(f"not one insertion: {new}")
    # EDA's add_word: insert at randint(0, len - 1), never after the last word
    assert_frequencies(tally([[s] for s in slots]), {(s,): 1 / 3 for s in range(3)}, len(out))
    assert_frequencies(tally([[s] for s in sources]), {("great",): 0.5, ("plot",): 0.5},
                       len(out))


def _eda_insertion_shapes(n_words: int, inserts: int) -> dict:
    """Where EDA's ``inserts`` insertions end up among ``n_words`` words (``+`` an inserted
    word, a digit an original one), each slot uniform in ``[0, len - 1]`` (enumerated)."""
    import itertools

    out: dict = {}
    ranges = [range(n_words + k) for k in range(inserts)]
    for slots in itertools.product(*ranges):
        review = [str(i) for i in range(n_words)]
        for s in slots:
            review.insert(s, "+")
        p = 1 / np.prod([len(r) for r in ranges])
        out[tuple(review)] = out.get(tuple(review), 0) + p
    return out


def test_two_insertions_land_where_edas_would():
    # rate 0.5 of 4 words: 2 insertions, each before a word of the review as it stands
    # ("plot" is the only word with synonyms: the inserted words are its synonyms)
    words = ["plot", "is", "the", "a"]
    assert [w in text.SYNONYMS for w in words] == [True, False, False, False]
    tokens = copies(words, rows=8000)
    out = run_op(text.RandomInsertion(0.5), tokens, seed=4)
    assert np.all((out != 0).sum(1) == 6)
    shapes = [[str(words.index(w)) if w in words else "+"
               for w in (text.VOCABULARY[t] for t in row[:6])] for row in out]
    assert all(s.count("+") == 2 for s in shapes)
    assert_frequencies(tally(shapes), _eda_insertion_shapes(4, 2), len(shapes))


def test_every_review_gets_its_count_where_float32_rounding_meets_the_loop_bound():
    # 0.58 * 50 is 29 in float32 and 28.999... in float64: the loop bound follows the count
    op = text.SynonymReplacement(0.58)
    assert op.steps(50) == 29
    out = run_op(op, copies(["great"] * 50, rows=4, length=50), seed=1)
    assert np.all((out != ID["great"]).sum(1) == 29)


def test_random_deletion_drops_each_word_with_probability_rate():
    words = ["plot", "screen", "battery", "kettle", "lid"]
    tokens = copies(words, rows=8000)
    out = run_op(text.RandomDeletion(0.3), tokens, seed=9)
    kept = np.array([[ID[w] in row for w in words] for row in out])
    assert np.all(kept.sum(1) >= 1)
    for share in kept.mean(0):  # 0.7 plus the survivor's share when all 5 draw (0.3 ** 5)
        assert abs(share - (0.7 + 0.3 ** 5 / 5)) < 4.5 * np.sqrt(0.21 / len(out))


@PROPS
@given(st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=1, max_size=5))
def test_compact_moves_the_kept_tokens_first_in_order(rows):
    keep = np.array(rows)
    tokens = np.arange(1, keep.size + 1, dtype=np.int32).reshape(keep.shape)
    out = text.compact(tf.constant(tokens), tf.constant(keep)).numpy()
    for t, k, o in zip(tokens, keep, out):
        np.testing.assert_array_equal(o, np.concatenate([t[k], np.zeros((~k).sum(), int)]))


def test_a_text_run_hands_back_the_op_each_review_got(reviews):
    policy = text.naive(["swap", "delete"], TASKS, rate=0.3)
    labels = {t: reviews.train.labels[t][:64] for t in TASKS}
    run = policy.run(reviews.train.images[:64], labels, tf.constant([1, 2]))
    assert run.transform.ops == ("swap", "delete")
    op = run.transform.op.numpy()
    assert set(op) == {0, 1}
    lengths = (run.inputs.numpy() != 0).sum(1)
    before = (reviews.train.images[:64] != 0).sum(1)
    assert np.all(lengths[op == 0] == before[op == 0])  # a swap keeps a review's length
    views = text.per_task({"topic": ["swap"]}, TASKS).run(reviews.train.images[:4], labels and
                                                          {t: v[:4] for t, v in labels.items()},
                                                          tf.constant([1, 2]))
    assert set(views.transform) == {"topic", "sentiment"}
    np.testing.assert_array_equal(views.transform["sentiment"].op, -1)  # the identity view


def test_one_token_and_empty_reviews():
    one = np.zeros((2, 4), np.int32)
    one[0, 0] = ID["great"]
    for name in text.TEXT_OPS:
        out = run_op(text.make_text_op(name, 0.5), one)
        assert np.all(out[1] == 0)
        kept = words_of(out[0])
        if name == "insert":
            assert len(kept) == 2 and ID["great"] in kept
        else:
            assert len(kept) == 1
            assert kept == [ID["great"]] if name != "synonym" else (
                text.VOCABULARY[kept[0]] in text.SYNONYMS["great"])


@PROPS
@given(st.integers(0, 2**16), st.floats(0.05, 0.5), st.sampled_from(["synonym", "swap", "delete"]))
def test_ops_a_task_tolerates_keep_the_labelers_labels(reviews, seed, rate, name):
    """Synonym replacement keeps every label; swap and deletion keep them when every task's
    words are protected (what shared() does); the labeler re-derives them."""
    tokens = reviews.test.images[:120]
    policy = text.shared([name], TASKS, rate=rate)
    out, _ = policy(tokens, {t: reviews.test.labels[t][:120] for t in TASKS},
                    tf.constant([1, seed]))
    before, after = text.label_tokens(tokens), text.label_tokens(out.numpy())
    for t in TASKS:
        assert name not in TASKS[t].not_invariant_to
        assert np.array_equal(before[t], after[t]), (name, t)


def test_label_damage_is_zero_where_declared_and_measured_where_not(reviews):
    damage = text.label_damage(reviews.test.images, TASKS, rates=[0.3])
    protected = damage[("protected", 0.3)]
    for op in ("synonym", "swap", "delete"):
        assert protected[(op, "topic")] == 0 and protected[(op, "sentiment")] == 0
    assert damage[("naive", 0.3)][("delete", "sentiment")] > 5
    assert protected[("insert", "sentiment")] > 0  # why sentiment declares "insert"
    effects = text.label_effects(TASKS)
    assert effects.loc["insert", "sentiment"] == "breaks"
    assert effects.loc["insert", "topic"] == "kept"


def test_side_by_side_shows_old_and_new_labels(reviews):
    table = text.side_by_side(reviews.test.images, TASKS, rate=0.3)
    assert list(table.columns) == ["op", "version", "text", "topic", "sentiment"]
    assert set(table.version) == {"original", "naive", "protected"}
    assert table.sentiment.str.contains("->").any()


# --------------------------------------------------------------------------- policies
def test_same_seed_same_batch_other_seed_other_batch(reviews):
    policy = text.naive(text.TEXT_OPS, TASKS, rate=0.3)
    labels = {t: reviews.train.labels[t][:64] for t in TASKS}
    a, _ = policy(reviews.train.images[:64], labels, tf.constant([3, 4]))
    b, _ = policy(reviews.train.images[:64], labels, tf.constant([3, 4]))
    c, _ = policy(reviews.train.images[:64], labels, tf.constant([3, 5]))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_policies_run_in_tf_data_and_per_task_views_feed_one_input_per_task(reviews):
    policy = text.per_task({"topic": text.TEXT_OPS, "sentiment": ["synonym", "delete"]}, TASKS,
                           rate=0.2)
    assert policy.views_per_task and not text.shared(["swap"], TASKS).views_per_task
    ds = to_dataset(reviews.train, TASKS, 32, seed=1, augment=policy)
    first = [x for x, _ in ds.take(2)]
    again = [x for x, _ in to_dataset(reviews.train, TASKS, 32, seed=1, augment=policy).take(2)]
    assert set(first[0]) == {"topic", "sentiment"} and first[0]["topic"].dtype == tf.int32
    for a, b in zip(first, again):
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_text_config_trains_through_experiments(reviews):
    from mtl_utils import experiments as ex

    config = ex.Config("per_task", epochs=1, batch_size=64, model_kwargs={
        "encoder": "text_cnn", "filters": (8,), "hidden": 8,
        "encoder_options": {"vocab_size": V}},
        augment=lambda ts: text.per_task({"topic": text.TEXT_OPS}, ts))
    rows = ex.run_config(reviews, config, seeds=[0], progress=False)
    assert set(rows.task) == {"topic", "sentiment"} and rows.step_ms.notna().all()


# ----------------------------------------------------------------------- bad inputs
def test_a_policy_that_would_break_a_label_names_task_op_and_fixes():
    with pytest.raises(ValueError) as err:
        text.shared(text.TEXT_OPS, TASKS)
    msg = str(err.value)
    for part in ("'insert'", "'sentiment'", "drop 'insert'", "per_task(", "naive=True"):
        assert part in msg
    assert text.naive(text.TEXT_OPS, TASKS).naive
    text.per_task({"topic": text.TEXT_OPS, "sentiment": ["synonym"]}, TASKS)  # the fix works


@pytest.mark.parametrize("call, error, match", [
    (lambda: text.shared(["shuffle"], TASKS), ValueError, "unknown text op 'shuffle'"),
    (lambda: text.shared([3], TASKS), TypeError, "must be a name"),
    (lambda: text.shared(["swap"], TASKS, rate=0), ValueError, "rate must be a number in"),
    (lambda: text.shared(["swap"], TASKS, rate=1.0), ValueError, "rate must be a number in"),
    (lambda: text.RandomSwap(True), ValueError, "rate must be a number in"),
    (lambda: text.per_task({"colour": ["swap"]}, TASKS), ValueError, "unknown task 'colour'"),
    (lambda: text.shared(["swap"], [Task("color", "class", num_classes=3,
                                         not_invariant_to={"hue"})]),
     ValueError, "not text ops"),
    (lambda: text.shared(["swap"], TASKS, vocabulary=["a", "b"]), ValueError, "must start"),
])
def test_bad_policies_fail_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bad_batches_fail_clearly():
    policy = text.shared(["swap"], TASKS)
    labels = {t: np.zeros(2, np.int32) for t in TASKS}
    with pytest.raises(TypeError, match="vectorize"):
        policy(np.zeros((2, 4), np.float32), labels, tf.constant([0, 1]))
    with pytest.raises(ValueError, match=r"\(B, L\)"):
        policy(np.zeros((2, 4, 1), np.int32), labels, tf.constant([0, 1]))
    with pytest.raises(ValueError, match="built for"):
        policy(np.zeros((2, 4), np.int32), {"topic": labels["topic"]}, tf.constant([0, 1]))
    with pytest.raises(ValueError, match="shape"):
        policy(np.zeros((2, 4), np.int32), labels, tf.constant([0, 1, 2]))

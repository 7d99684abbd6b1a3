"""Image and text together (notebook 12): the scenes' questions are true of their images, and
stay true through every op a text-consistent policy accepts."""

import numpy as np
import pytest
import tensorflow as tf

from mtl_utils import augment, image_text
from mtl_utils.data import to_dataset
from mtl_utils.text import decode, vectorize


@pytest.fixture(scope="module")
def data():
    return image_text.make_scenes(64, image_size=24, seed=3, n_val=16, n_test=48)


def _batch(data, n=48):
    s = data.test
    return ({k: tf.constant(v[:n]) for k, v in s.images.items()},
            {k: tf.constant(v[:n]) for k, v in s.labels.items()})


def _words(tokens):
    return [t.split() for t in decode(np.asarray(tokens), image_text.SCENE_VOCABULARY)]


def test_same_seed_same_data_and_another_seed_other_data():
    a = image_text.make_scenes(16, image_size=24, seed=1, n_val=4, n_test=4)
    b = image_text.make_scenes(16, image_size=24, seed=1, n_val=4, n_test=4)
    c = image_text.make_scenes(16, image_size=24, seed=2, n_val=4, n_test=4)
    for key in ("image", "tokens"):
        np.testing.assert_array_equal(a.train.images[key], b.train.images[key])
    np.testing.assert_array_equal(a.train.labels["answer"], b.train.labels["answer"])
    assert not np.array_equal(a.train.images["image"], c.train.images["image"])


def test_the_labeler_answers_every_question_as_the_data_does(data):
    for split in ("train", "test"):
        s = data.split(split)
        got = image_text.answer_questions(s.images["tokens"], data.info["scenes"][split])
        np.testing.assert_array_equal(got, s.labels["answer"])


def test_where_is_the_centre_of_the_object_the_question_names(data):
    sc, s = data.info["scenes"]["test"], data.test
    for i, words in enumerate(_words(s.images["tokens"])):
        colour = next(w for w in words if w in image_text.SCENE_COLORS)
        j = list(sc.color[i]).index(image_text.SCENE_COLORS.index(colour))
        np.testing.assert_allclose(s.labels["where"][i] * 24, sc.centre[i, j], atol=1.0)


def test_flip_twice_is_the_identity_on_image_and_text(data):
    x, y = _batch(data)
    policy = image_text.image_text([augment.HFlip(p=1.0)], data.tasks)
    once = policy.run(x, y, [1, 2])
    twice = policy.run(once.inputs, once.labels, [3, 4])
    np.testing.assert_array_equal(twice.inputs["tokens"], x["tokens"])
    np.testing.assert_allclose(twice.inputs["image"], x["image"], atol=1e-5)
    np.testing.assert_allclose(twice.labels["where"], y["where"], atol=1e-5)
    assert not np.array_equal(once.inputs["tokens"], x["tokens"])


@pytest.mark.parametrize("op, horizontal", [("hflip", True), ("vflip", False)])
def test_answers_recomputed_from_the_flipped_scene_equal_the_rewritten_samples(data, op,
                                                                               horizontal):
    x, y = _batch(data)
    run = image_text.image_text([augment.OP_CLASSES[op](p=1.0)], data.tasks).run(x, y, [5, 6])
    flipped = data.info["scenes"]["test"].flipped(horizontal)
    n = len(y["answer"])
    scene = image_text.Scenes(flipped.color[:n], flipped.shape[:n], flipped.centre[:n], 24)
    np.testing.assert_array_equal(image_text.answer_questions(run.inputs["tokens"], scene),
                                  run.labels["answer"])
    # and the question left as it was is now false for every relation on the flipped axis
    kept = image_text.answer_questions(x["tokens"].numpy(), scene)
    assert (kept != y["answer"].numpy()).any()


def test_random_flips_rewrite_exactly_the_examples_they_flip(data):
    x, y = _batch(data)
    run = image_text.image_text(["hflip"], data.tasks).run(x, y, [7, 8])
    flipped = run.transform.hflip.numpy()
    assert 0 < flipped.sum() < len(flipped)
    changed = (run.inputs["tokens"].numpy() != x["tokens"].numpy()).any(axis=1)
    has_lr = np.array([bool({"left", "right"} & set(w)) for w in _words(x["tokens"])])
    np.testing.assert_array_equal(changed, flipped & has_lr)


def test_words_outside_the_relation_vocabulary_are_never_changed():
    vocab = image_text.SCENE_VOCABULARY
    ids = np.arange(len(vocab) + 3, dtype=np.int32)[None].repeat(2, 0)  # ids past V too
    for name in ("hflip", "vflip"):
        op = augment.OP_CLASSES[name](p=1.0)
        out = op.transform_text(tf.constant(ids), {"on": tf.ones([2], tf.bool)}, None,
                                vocab).numpy()
        moved = {vocab[i] for i in np.flatnonzero(out[0] != ids[0])}
        assert moved == set(op.word_map)
        assert moved <= image_text.RELATION_WORDS
    assert vocab.index("bright") in out[0] and vocab.index("upright") in out[0]


def test_substring_swapping_corrupts_bright_and_tokens_do_not():
    assert image_text.substring_swap("is the bright red circle left of the upright square") == (
        "is the bleft red circle right of the upleft square")
    tokens = vectorize(["is the bright red circle left of the blue square"],
                              image_text.SCENE_VOCABULARY, image_text.MAX_WORDS)
    out = augment.HFlip(p=1.0).transform_text(tf.constant(tokens), {"on": tf.ones([1], bool)},
                                              None, image_text.SCENE_VOCABULARY)
    assert decode(out.numpy(), image_text.SCENE_VOCABULARY) == [
        "is the bright red circle right of the blue square"]


def test_an_op_whose_effect_on_words_cannot_be_said_is_refused_naming_op_task_and_fix(data):
    with pytest.raises(ValueError, match=r"'rotate'.*'answer'.*cautious"):
        image_text.image_text(["hflip", "rotate"], data.tasks)
    image_text.image_text(["rotate"], data.tasks, text="cautious")  # allowed: plain questions only
    image_text.image_text(["translate", "zoom"], data.tasks)  # they keep every relation
    with pytest.raises(ValueError, match="'hue'.*'answer'"):
        image_text.image_text(["hue"], data.tasks)  # colour words: the tasks' declarations
    with pytest.raises(ValueError, match="unknown text mode"):
        image_text.image_text(["hflip"], data.tasks, text="sometimes")


def test_cautious_flips_only_questions_without_a_relation_word(data):
    x, y = _batch(data)
    run = image_text.image_text([augment.HFlip(p=1.0)], data.tasks, text="cautious").run(
        x, y, [1, 1])
    relation = np.array([bool(image_text.RELATION_WORDS & set(w)) for w in _words(x["tokens"])])
    np.testing.assert_array_equal(run.transform.hflip.numpy(), ~relation)
    np.testing.assert_array_equal(run.inputs["tokens"], x["tokens"])


def test_unchanged_text_flips_the_image_and_keeps_the_question(data):
    x, y = _batch(data)
    run = image_text.image_text([augment.HFlip(p=1.0)], data.tasks, text="unchanged").run(
        x, y, [1, 1])
    np.testing.assert_array_equal(run.inputs["tokens"], x["tokens"])
    np.testing.assert_allclose(run.inputs["image"], x["image"].numpy()[:, :, ::-1], atol=1e-5)
    np.testing.assert_allclose(run.labels["where"][:, 0], 1 - y["where"][:, 0], atol=1e-5)


def test_bad_inputs_get_clear_errors(data):
    x, y = _batch(data, 4)
    policy = image_text.image_text(["hflip"], data.tasks)
    with pytest.raises(ValueError, match="'image'.*'tokens'"):
        policy(x["image"], y, [1, 2])
    with pytest.raises(TypeError, match="token ids"):
        policy({"image": x["image"], "tokens": tf.cast(x["tokens"], tf.float32)}, y, [1, 2])
    with pytest.raises(ValueError, match="objects"):
        image_text.make_scenes(8, objects=(1, 3))
    with pytest.raises(ValueError, match="make_scenes"):
        small = image_text.make_scenes(8, image_size=24, n_val=2, n_test=2)
        image_text.damage_table(small.__class__("other", data.tasks, data.train, data.val,
                                                data.test))


def test_damage_table_is_exact_from_the_scenes(data):
    table = image_text.damage_table(data)
    words = _words(data.test.images["tokens"])
    relation_lr = np.mean([bool({"left", "right"} & set(w)) for w in words])
    assert table.loc["unchanged", "answers false %"] == pytest.approx(100 * relation_lr)
    assert table.loc["consistent", "answers false %"] == 0
    assert table.loc["cautious", "answers false %"] == 0
    assert table.loc["cautious", "examples unaugmented %"] > 0


def test_to_dataset_batches_a_dict_of_inputs_through_the_policy(data):
    ds = to_dataset(data.train, data.tasks, 16, seed=0,
                    augment=image_text.image_text(["hflip"], data.tasks))
    x, y = next(iter(ds))
    assert x["image"].shape == (16, 24, 24, 3) and x["tokens"].shape == (16, image_text.MAX_WORDS)
    assert set(y) == {"answer", "where"}
    again = next(iter(to_dataset(data.train, data.tasks, 16, seed=0,
                                 augment=image_text.image_text(["hflip"], data.tasks))))
    np.testing.assert_array_equal(x["tokens"], again[0]["tokens"])


def test_two_input_model_has_a_head_per_task(data):
    from mtl_utils.models import build_image_text_model

    model = build_image_text_model(data.tasks, data.image_shape, len(image_text.SCENE_VOCABULARY),
                                   image_text.MAX_WORDS, filters=(8, 8, 8))
    x, _ = _batch(data, 4)
    out = model(x)
    assert out["answer"].shape == (4, 2) and out["where"].shape == (4, 2)
    with pytest.raises(ValueError, match="vocab_size"):
        build_image_text_model(data.tasks, data.image_shape, 1, image_text.MAX_WORDS)


def test_words_moved_lists_each_ops_rule():
    table = image_text.words_moved(["hflip", "vflip", "rotate", "translate"])
    assert "left -> right" in table.loc["hflip", "question"]
    assert "above -> below" in table.loc["vflip", "question"]
    assert table.loc["rotate", "question"].startswith("refused")
    assert table.loc["translate", "question"] == "unchanged"


def test_glimpses_say_where_they_looked_and_their_offsets():
    import keras

    from mtl_utils.models import Glimpses

    feats = np.zeros((1, 4, 4, 3), np.float32)
    feats[0, 1, 3, 0] = 50.0  # one hot cell at x = 3.5 / 4, y = 1.5 / 4 in channel 0
    text = np.ones((1, 5), np.float32)
    layer = Glimpses(2)
    layer.build([feats.shape, text.shape])
    kernel = np.zeros((5, 6), np.float32)
    kernel[:, 0] = 1.0  # glimpse 0 asks for channel 0; glimpse 1 asks for nothing (uniform)
    layer.queries.set_weights([kernel, np.zeros(6, np.float32)])
    out = keras.ops.convert_to_numpy(layer([feats, text]))
    assert out.shape == (1, 6) == (1, layer.compute_output_shape([feats.shape, text.shape])[1])
    np.testing.assert_allclose(out[0, :2], [3.5 / 4, 1.5 / 4], atol=1e-4)
    np.testing.assert_allclose(out[0, 2:4], [0.5, 0.5], atol=1e-4)
    np.testing.assert_allclose(out[0, 4:], out[0, :2] - out[0, 2:4], atol=1e-6)
    with pytest.raises(ValueError, match="glimpses"):
        Glimpses(0)


# ------------------------------------------------------------------------ quarter turns
def _turns(matrices):
    """The quarter turns of a run's matrices (a rotation's first row is ``cos, sin``)."""
    m = np.asarray(matrices)
    return np.round(np.arctan2(m[:, 0, 1], m[:, 0, 0]) / (np.pi / 2)).astype(int) % 4


def _turn_text(tokens, k):
    k = tf.constant(k, tf.int32)
    params = {"k": k, "on": k > 0}
    return augment.QuarterTurn().transform_text(tf.constant(tokens), params, None,
                                                image_text.SCENE_VOCABULARY).numpy()


def test_one_quarter_turn_rewrites_each_relation_phrase():
    # left of -> below, right of -> above, above -> left of, below -> right of (counter-
    # clockwise on screen); the next test checks these against turned images and the labeler
    texts = ["is the red circle left of the blue square", "is the red circle right of the "
             "blue square", "is the red circle above the blue square",
             "is the red circle below the blue square"]
    tokens = vectorize(texts, image_text.SCENE_VOCABULARY, image_text.MAX_WORDS)
    assert decode(_turn_text(tokens, [1] * 4), image_text.SCENE_VOCABULARY) == [
        "is the red circle below the blue square", "is the red circle above the blue square",
        "is the red circle left of the blue square", "is the red circle right of the blue square"]
    assert decode(_turn_text(tokens, [2] * 4), image_text.SCENE_VOCABULARY) == [
        texts[1], texts[0], texts[3], texts[2]]
    assert decode(_turn_text(tokens, [3] * 4), image_text.SCENE_VOCABULARY) == [
        "is the red circle above the blue square", "is the red circle below the blue square",
        "is the red circle right of the blue square", "is the red circle left of the blue square"]


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_quarter_turns_k_then_4_minus_k_and_four_turns_restore_the_tokens(data, k):
    tokens = data.test.images["tokens"]
    n = len(tokens)
    back = _turn_text(_turn_text(tokens, [k] * n), [(4 - k) % 4] * n)
    np.testing.assert_array_equal(back, tokens)
    four = tokens
    for _ in range(4):
        four = _turn_text(four, [k] * n)
    np.testing.assert_array_equal(four, tokens)
    if k:
        assert not np.array_equal(_turn_text(tokens, [k] * n), tokens)


@pytest.mark.parametrize("p, seed", [(1.0, (5, 6)), (1.0, (7, 8)), (0.75, (9, 10))])
def test_answers_recomputed_from_the_turned_scene_equal_the_turned_questions(data, p, seed):
    x, y = _batch(data)
    run = image_text.image_text([augment.QuarterTurn(p=p)], data.tasks).run(x, y, seed)
    k = _turns(run.transform.matrices)
    assert set(k) == ({1, 2, 3} if p == 1.0 else {0, 1, 2, 3})
    n = len(k)
    sc = data.info["scenes"]["test"]
    scene = image_text.Scenes(sc.color[:n], sc.shape[:n], sc.centre[:n], 24).moved(
        run.transform.matrices)
    np.testing.assert_array_equal(image_text.answer_questions(run.inputs["tokens"], scene),
                                  run.labels["answer"])
    # the image is the scene turned: np.rot90 of each image, exactly, and its centres
    for i in range(n):
        np.testing.assert_array_equal(run.inputs["image"][i], np.rot90(x["image"][i], k[i]))
    turned = sc.centre[:n].copy()
    for i in range(n):
        for _ in range(k[i]):  # np.rot90 takes the point (x, y) to (y, size - x)
            turned[i] = np.stack([turned[i][:, 1], 24 - turned[i][:, 0]], -1)
    shown = sc.color[:n] >= 0
    np.testing.assert_allclose(scene.centre[shown], turned[shown], atol=1e-4)
    # the question left as it was is now false for relations the turn changed
    kept = image_text.answer_questions(x["tokens"].numpy(), scene)
    assert (kept != y["answer"].numpy()).any()


def test_answers_stay_true_through_any_mix_of_flips_and_quarter_turns(data):
    x, y = _batch(data)
    sc = data.info["scenes"]["test"]
    n = len(y["answer"])
    rng = np.random.default_rng(0)
    for trial in range(6):
        ops = [augment.OP_CLASSES[o](p=0.7) for o in
               rng.choice(["hflip", "vflip", "quarter_turn"], rng.integers(2, 5))]
        run = image_text.image_text(ops, data.tasks).run(x, y, [trial, 1])
        scene = image_text.Scenes(sc.color[:n], sc.shape[:n], sc.centre[:n], 24).moved(
            run.transform.matrices)
        np.testing.assert_array_equal(
            image_text.answer_questions(run.inputs["tokens"], scene), run.labels["answer"],
            err_msg=repr(ops))


def test_scenes_moved_by_a_flips_matrices_are_the_flipped_scenes(data):
    sc = data.info["scenes"]["test"]
    m = augment.affine_matrix(24, 24, hflip=np.ones(len(sc.centre), bool))
    shown = sc.color >= 0
    np.testing.assert_allclose(sc.moved(m).centre[shown], sc.flipped().centre[shown], atol=1e-4)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_quarter_turns_change_no_word_outside_the_relation_phrases(data, k):
    vocab = image_text.SCENE_VOCABULARY
    v = len(vocab)
    extra = vectorize(["is the bright red upright circle above the blue square",
                       "is the bright green shape a triangle"], vocab, image_text.MAX_WORDS)
    odd = np.zeros((1, image_text.MAX_WORDS), np.int32)  # ids past the vocabulary are kept
    odd[0, :5] = [v, v + 1, vocab.index("above"), v + 2, vocab.index("below")]
    tokens = np.concatenate([data.test.images["tokens"], extra, odd])
    out = _turn_text(tokens, [k] * len(tokens))
    phrase = image_text.RELATION_WORDS | {"of"}
    for before, after in zip(tokens, out):
        words_before = [vocab[i] if i < v else i for i in before if i]
        words_after = [vocab[i] if i < v else i for i in after if i]
        assert [w for w in words_before if w not in phrase] == [
            w for w in words_after if w not in phrase]
        assert sum(w in image_text.RELATION_WORDS for w in words_before) == sum(
            w in image_text.RELATION_WORDS for w in words_after)
    assert "of" not in {w for t in _words(tokens) for i, w in enumerate(t)
                        if i == 0 or t[i - 1] not in ("left", "right")}  # "of" only in phrases
    assert vocab.index("bright") in out[-3] and vocab.index("upright") in out[-3]
    np.testing.assert_array_equal(out[-1, [0, 1]], [v, v + 1])
    assert v + 2 in out[-1]


def test_a_quarter_turn_that_would_overflow_the_tokens_raises():
    vocab = image_text.SCENE_VOCABULARY
    tokens = vectorize(["is the red circle above the blue square"], vocab, 8)  # no padding
    with pytest.raises(tf.errors.InvalidArgumentError, match="one more token"):
        _turn_text(tokens, [1])
    assert decode(_turn_text(tokens, [2]), vocab) == ["is the red circle below the blue square"]


def test_quarter_turn_in_consistent_and_cautious_policies_and_tf_data(data):
    policy = image_text.image_text(["quarter_turn"], data.tasks)  # consistent accepts it
    ds = to_dataset(data.train, data.tasks, 16, seed=0, augment=policy)
    x, y = next(iter(ds))
    assert x["tokens"].shape == (16, image_text.MAX_WORDS)
    again = next(iter(to_dataset(data.train, data.tasks, 16, seed=0, augment=policy)))
    np.testing.assert_array_equal(x["tokens"], again[0]["tokens"])
    np.testing.assert_array_equal(x["image"], again[0]["image"])
    # cautious: the turn changes relation words, so it acts only on questions without one
    xb, yb = _batch(data)
    run = image_text.image_text([augment.QuarterTurn(p=1.0)], data.tasks, text="cautious").run(
        xb, yb, [1, 1])
    relation = np.array([bool(image_text.RELATION_WORDS & set(w)) for w in _words(xb["tokens"])])
    turned = _turns(run.transform.matrices) != 0
    np.testing.assert_array_equal(turned, ~relation)
    np.testing.assert_array_equal(run.inputs["tokens"], xb["tokens"])
    table = image_text.words_moved(["quarter_turn"])
    assert "left of -> below" in table.loc["quarter_turn", "question"]

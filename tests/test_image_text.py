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

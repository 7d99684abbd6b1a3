"""Image and text together: scenes of two or three shapes, a question about each from a small
grammar whose meaning is known, and augmentation that keeps the question true of its image.

* :func:`make_scenes`: offline data (the shapes renderer of :mod:`mtl_utils.data`); the
  inputs are ``{"image": (N, H, W, 3), "tokens": (N, L)}``, the tasks ``answer`` (yes/no,
  it reads the question) and ``where`` (the centre of the object the question is about, a
  where-is-it label that moves with the image).
* :func:`answer_questions`: the labeler: it parses token ids and answers them from a scene,
  so any rewrite of a question can be checked against the transformed scene.
* :class:`ImageTextPolicy` (:func:`image_text`): image ops applied to the image, labels moved
  by kind, and the question rewritten by each op's own text hook
  (:meth:`~mtl_utils.augment.Op.transform_text`, driven by what the op drew): a horizontal
  flip swaps the tokens ``left`` and ``right`` (never substrings: ``bright`` stays), a
  vertical flip ``above`` and ``below``, a quarter turn the relation phrases by the turns it
  drew (``"left of"`` -> ``"below"`` for one). ``text="unchanged"`` flips the image and keeps the
  question (the naive way); ``text="cautious"`` gives geometric ops only to questions without
  a relation word (MDETR's and TransVG's rule).
* :func:`damage_table`: what each way does to the answers, exactly, from the scenes.

Introduced in notebook 12.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from mtl_utils.augment import OP_CLASSES, Op, make_op, run_ops, split_seed
from mtl_utils.augment.runner import as_tasks, check_images, check_labels
from mtl_utils.data import (
    COLOR_INVARIANCES,
    COLORS,
    SHAPES,
    MultiTaskData,
    Split,
    check_count,
    mask_centroids,
    render_objects,
)
from mtl_utils.policy import Policy, PolicyRun, check_invariance
from mtl_utils.tasks import Task, task_dict
from mtl_utils.text.policies import check_tokens
from mtl_utils.text.vocabulary import decode, vectorize

# ------------------------------------------------------------------------------ grammar
#: The colours and shapes scenes use (well apart in the palette, so a name is never in doubt).
SCENE_COLORS: tuple[str, ...] = ("red", "yellow", "green", "blue", "purple")
SCENE_SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
#: Relation phrases and the test each makes of (subject - object) in pixels, y pointing down.
RELATIONS: dict[str, tuple[int, int]] = {"left of": (0, -1), "right of": (0, 1),
                                         "above": (1, -1), "below": (1, 1)}
#: The words whose meaning depends on where things are in the image.
RELATION_WORDS: frozenset[str] = frozenset({"left", "right", "above", "below"})
#: Words with no meaning in this grammar (every object is drawn bright and upright), there
#: because a substring rewrite breaks them: "bright" holds "right", "upright" too.
FILLERS: tuple[str, ...] = ("bright", "upright")
FILLER_SHARE = 0.1  # how often each filler is used
SCENE_VOCABULARY: tuple[str, ...] = (
    "", "[UNK]", "is", "the", "a", "shape", "of", "left", "right", "above", "below",
    *FILLERS, *SCENE_COLORS, *SCENE_SHAPES)
MAX_WORDS = 14
ANSWERS: tuple[str, ...] = ("no", "yes")
#: Share of questions about a relation (the rest ask a shape: "is the red shape a circle").
RELATION_SHARE = 0.75
N_VAL = 500
RADIUS = 4.5  # object circumradius in pixels at 32x32 (scaled with the image)
N_TEST = 1000


def scene_tasks(image_size: int = 32) -> dict[str, Task]:
    """The tasks of :func:`make_scenes`.

    ``answer`` (class, no/yes) reads every word of the question, so it declares the relation
    words, colours and shapes in ``depends_on`` and the colour ops in ``not_invariant_to``;
    ``where`` (position, in pixels) is the centre of the object the question names first: it
    moves with the image, and needs the colour and shape words to know which object.

    Introduced in notebook 12.
    """
    words = RELATION_WORDS | set(SCENE_COLORS) | set(SCENE_SHAPES)
    return task_dict([
        Task("answer", "class", num_classes=2, class_names=ANSWERS, head_pool="flatten",
             depends_on=words, not_invariant_to=COLOR_INVARIANCES),
        Task("where", "position", metric_scale=float(image_size), unit="px",
             depends_on=set(SCENE_COLORS) | set(SCENE_SHAPES),
             not_invariant_to=COLOR_INVARIANCES),
    ])


@dataclass
class Scenes:
    """What was drawn, per example: ``color`` and ``shape`` ``(N, 3)`` indices into
    :data:`SCENE_COLORS` / :data:`SCENE_SHAPES` (-1: no object), ``centre`` ``(N, 3, 2)``
    pixels ``(x, y)``, and ``size`` the image size.

    Introduced in notebook 12.
    """

    color: np.ndarray
    shape: np.ndarray
    centre: np.ndarray
    size: int

    def flipped(self, horizontal: bool = True) -> Scenes:
        """The scenes mirrored left-right (or top-bottom): what a flip of the image shows."""
        centre = self.centre.copy()
        axis = 0 if horizontal else 1
        centre[..., axis] = self.size - centre[..., axis]
        return Scenes(self.color, self.shape, centre, self.size)

    def moved(self, matrices: Any) -> Scenes:
        """The scenes moved by ``(N, 3, 3)`` forward matrices in pixel-index coordinates (a
        run's ``transform.matrices``): what the warped images show. Centres are in pixels
        with pixel ``j`` spanning ``[j, j + 1)``, so pixel index ``x`` is ``centre - 0.5``."""
        m = np.asarray(matrices, np.float64)
        p = self.centre - 0.5
        centre = np.einsum("nij,nkj->nki", m[:, :2, :2], p) + m[:, None, :2, 2] + 0.5
        return Scenes(self.color, self.shape, centre, self.size)


def _place(rng: np.random.Generator, k: int, size: int, radius: float, gap: float
           ) -> np.ndarray:
    """``k`` centres in the frame, pairwise at least ``gap`` apart (rejection sampling)."""
    lo, hi = radius + 1.0, size - radius - 1.0
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    for _ in range(200):
        c = rng.uniform(lo, hi, (k, 2))
        if all(np.hypot(*(c[i] - c[j])) >= gap for i, j in pairs):
            return c
    raise RuntimeError("could not place the objects; use a larger image_size.")


def _draw_scenes(rng: np.random.Generator, n: int, size: int, margin: float,
                 objects: tuple[int, int], relation_share: float
                 ) -> tuple[Scenes, list[str], np.ndarray, np.ndarray]:
    """Scenes, one question each, the answers and the index of the subject object."""
    radius = size * RADIUS / 32
    colors = np.full((n, 3), -1)
    shapes = np.full((n, 3), -1)
    centres = np.zeros((n, 3, 2))
    texts, answers, subjects = [], np.zeros(n, np.int32), np.zeros(n, np.int32)
    for i in range(n):
        k = int(rng.integers(objects[0], objects[1] + 1))
        colors[i, :k] = rng.choice(len(SCENE_COLORS), k, replace=False)
        shapes[i, :k] = rng.integers(0, len(SCENE_SHAPES), k)
        centres[i, :k] = _place(rng, k, size, radius, 2.2 * radius)
        a = int(rng.integers(0, k))
        subjects[i] = a
        yes = bool(rng.random() < 0.5)
        bright = "bright " if rng.random() < FILLER_SHARE else ""
        upright = "upright " if rng.random() < FILLER_SHARE else ""
        subject = f"the {bright}{SCENE_COLORS[colors[i, a]]}"
        if rng.random() < relation_share:
            b = int(rng.choice([j for j in range(k) if j != a]))
            d = centres[i, a] - centres[i, b]
            axes = [ax for ax in (0, 1) if abs(d[ax]) >= margin]
            ax = int(rng.choice(axes))
            true = [r for r, (rax, sign) in RELATIONS.items() if rax == ax and sign * d[ax] > 0][0]
            false = [r for r, (rax, _) in RELATIONS.items() if rax == ax and r != true][0]
            rel = true if yes else false
            obj = f"the {SCENE_COLORS[colors[i, b]]} {SCENE_SHAPES[shapes[i, b]]}"
            texts.append(f"is {subject} {upright}{SCENE_SHAPES[shapes[i, a]]} {rel} {obj}")
        else:
            asked = shapes[i, a] if yes else (shapes[i, a] + rng.integers(1, 3)) % 3
            texts.append(f"is {subject} {upright}shape a {SCENE_SHAPES[asked]}")
        answers[i] = int(yes)
    return Scenes(colors, shapes, centres, size), texts, answers, subjects


def answer_questions(tokens: np.ndarray, scenes: Scenes, margin: float = 0.0) -> np.ndarray:
    """The labeler: each question of ``tokens`` ``(N, L)`` parsed and answered from its
    scene: 1 (yes), 0 (no), or -1 where the question is not a sentence of the grammar (an
    unknown word, an object not in the scene, a relation closer than ``margin`` pixels).

    Introduced in notebook 12.
    """
    out = np.full(len(tokens), -1, np.int32)
    for i, words in enumerate(decode(tokens, SCENE_VOCABULARY)):
        w = [x for x in words.split() if x not in FILLERS]
        objects = {(SCENE_COLORS[c], SCENE_SHAPES[s]): j for j, (c, s) in
                   enumerate(zip(scenes.color[i], scenes.shape[i])) if c >= 0}
        by_color = {c: (s, j) for (c, s), j in objects.items()}
        if len(w) == 6 and w[:2] == ["is", "the"] and w[3:5] == ["shape", "a"]:
            if w[2] in by_color and w[5] in SCENE_SHAPES:
                out[i] = int(by_color[w[2]][0] == w[5])
            continue
        if len(w) < 8 or w[:2] != ["is", "the"]:
            continue
        rel = " ".join(w[4:-3])
        a, b = objects.get((w[2], w[3])), objects.get((w[-2], w[-1]))
        if w[-3] != "the" or rel not in RELATIONS or a is None or b is None:
            continue
        ax, sign = RELATIONS[rel]
        d = scenes.centre[i, a, ax] - scenes.centre[i, b, ax]
        if abs(d) >= margin:
            out[i] = int(sign * d > 0)
    return out


def make_scenes(n: int = 400, image_size: int = 32, seed: int = 0, *, n_val: int = N_VAL,
                n_test: int = N_TEST, margin: float = 3.0, noise: float = 0.02,
                objects: tuple[int, int] = (2, 3), relation_share: float = RELATION_SHARE
                ) -> MultiTaskData:
    """Scenes of two or three shapes, each with a question about it and its answers.

    Each scene has two or three objects (:data:`SCENE_SHAPES`, radius 4.5 px at 32x32, one
    colour each from :data:`SCENE_COLORS`, all different) well apart on the shapes
    background. Its question is about a relation (``"is the red circle left of the blue
    square"``, :data:`RELATION_SHARE` of them, the two objects at least ``margin`` pixels apart
    along the relation's axis) or a shape (``"is the green shape a triangle"``), with the
    meaningless :data:`FILLERS` ``"bright"`` and ``"upright"`` now and then; half the answers
    are yes. The same seed gives the same data; splits draw from their own streams.

    Returns:
        :class:`~mtl_utils.data.MultiTaskData` whose splits' inputs are
        ``{"image": (N, H, W, 3) float32, "tokens": (N, MAX_WORDS) int32}`` and labels
        ``answer`` (0 no, 1 yes) and ``where`` (the subject's mask centroid in [0, 1]);
        ``info["scenes"]`` holds each split's :class:`Scenes` and ``info["texts"]`` its
        questions as strings.

    Raises:
        ValueError: bad sizes (``image_size`` at least 24), a negative margin.

    Introduced in notebook 12.
    """
    n = check_count("n", n)
    n_val, n_test = check_count("n_val", n_val), check_count("n_test", n_test)
    image_size = check_count("image_size", image_size, 16)
    lo, hi = (int(k) for k in objects)
    if not 2 <= lo <= hi <= 3:
        raise ValueError(f"objects must be (fewest, most) within 2..3, got {objects!r}.")
    if not 0.0 <= relation_share <= 1.0:
        raise ValueError(f"relation_share must be in [0, 1], got {relation_share!r}.")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0 pixels, got {margin!r}.")
    palette, shapes = list(COLORS), list(SHAPES)
    splits, scenes, texts = {}, {}, {}
    for k, (name, count) in enumerate((("train", n), ("val", n_val), ("test", n_test))):
        rng = np.random.default_rng([int(seed), 12, k])
        sc, questions, answers, subjects = _draw_scenes(rng, count, image_size, margin,
                                                        objects, relation_share)
        color_ids = np.array([[palette.index(SCENE_COLORS[c]) if c >= 0 else 0 for c in row]
                              for row in sc.color])
        shape_ids = np.array([[shapes.index(SCENE_SHAPES[s]) if s >= 0 else -1 for s in row]
                              for row in sc.shape])
        radii = np.full(sc.color.shape, image_size * RADIUS / 32)
        thetas = rng.uniform(0, 2 * np.pi, sc.color.shape)
        images, masks = render_objects(rng, shape_ids, color_ids, sc.centre, radii, thetas,
                                       image_size, noise)
        subject_mask = masks[np.arange(count), subjects][..., None]
        where, _ = mask_centroids(subject_mask)
        tokens = vectorize(questions, SCENE_VOCABULARY, MAX_WORDS)
        splits[name] = Split({"image": images, "tokens": tokens},
                             {"answer": answers, "where": where.astype(np.float32)})
        scenes[name], texts[name] = sc, questions
    return MultiTaskData("scenes", scene_tasks(image_size), **splits, info={
        "seed": seed, "image_size": image_size, "margin": margin, "objects": (lo, hi),
        "relation_share": relation_share,
        "vocabulary": SCENE_VOCABULARY, "scenes": scenes, "texts": texts})


# ------------------------------------------------------------------------------ policy
TEXT_MODES: tuple[str, ...] = ("consistent", "unchanged", "cautious")


def _reads_relations(tasks: Mapping[str, Task]) -> list[str]:
    return [n for n, t in tasks.items() if set(t.depends_on) & RELATION_WORDS]


class ImageTextPolicy(Policy):
    """One view of each (image, question) pair for all tasks: the ops on the image, every
    label moved by its kind, and the question handled by ``text``:

    * ``"consistent"``: each op's text hook rewrites the question's tokens by the op's
      :attr:`~mtl_utils.augment.Op.word_map` wherever the op acted;
    * ``"unchanged"``: the question is kept (a flipped image with its old question: the
      naive way, for teaching);
    * ``"cautious"``: the ops that would change a relation word (a non-empty ``word_map``,
      or none) act only on questions without a relation word; the others go unaugmented.

    Args:
        ops: op objects or names, as :func:`mtl_utils.augment.shared` takes them.
        tasks: the tasks whose labels the policy moves.
        vocabulary: the questions' vocabulary (default :data:`SCENE_VOCABULARY`).
        fill_mode: as in :func:`mtl_utils.augment.shared`.

    Raises:
        ValueError: an unknown mode; an op some task declares in ``not_invariant_to``;
            with ``"consistent"``, an op whose effect on the words cannot be said
            (``word_map`` ``None``: rotations, shears, mixing) while a task reads the
            relation words, naming the op, the task and the fixes.

    Introduced in notebook 12.
    """

    def __init__(self, ops: Iterable[Op | str] | Op | str, tasks: Any, *,
                 text: str = "consistent", vocabulary: Sequence[str] | None = None,
                 fill_mode: str = "reflect") -> None:
        super().__init__(as_tasks(tasks))
        if text not in TEXT_MODES:
            raise ValueError(f"unknown text mode {text!r}; choose one of {TEXT_MODES}.")
        ops = [ops] if isinstance(ops, (str, Op)) else list(ops)
        self.ops = tuple(make_op(o) for o in ops)
        self.text = text
        self.vocabulary = tuple(SCENE_VOCABULARY if vocabulary is None else vocabulary)
        self.fill_mode = fill_mode
        readers = _reads_relations(self.tasks)
        for op in self.ops:
            check_invariance(op.name, self.tasks)
            op.check_tasks(self.tasks)
            if text == "consistent" and op.word_map is None and readers:
                raise ValueError(
                    f"op {op.name!r} cannot keep the question true of its image for task "
                    f"{readers[0]!r}: it has no word_map (how it changes the relation words "
                    f"{sorted(RELATION_WORDS)} cannot be said in words), and the task reads "
                    f"them (depends_on). Fix: drop {op.name!r}; or use text='cautious' to "
                    f"apply it only to questions without a relation word; or "
                    f"text='unchanged' to apply it anyway (to show what goes wrong).")
        relation_ids = [i for i, w in enumerate(self.vocabulary) if w in RELATION_WORDS]
        self._relation_lookup = np.isin(np.arange(len(self.vocabulary) + 1), relation_ids)
        self._guarded = np.array([op.word_map != {} for op in self.ops], bool)

    def __repr__(self) -> str:
        ops = ", ".join(repr(o) for o in self.ops) or "identity"
        return f"ImageTextPolicy([{ops}], tasks={list(self.tasks)}, text={self.text!r})"

    def check_batch(self, inputs, labels):
        """``{"image": (B, H, W, C) float32, "tokens": (B, L) int}`` and the tasks' labels.

        Raises:
            TypeError / ValueError: inputs that are not such a dict, or bad labels.
        """
        if not isinstance(inputs, Mapping) or set(inputs) != {"image", "tokens"}:
            got = sorted(inputs) if isinstance(inputs, Mapping) else type(inputs).__name__
            raise ValueError(f"an image-text policy takes inputs {{'image': images, 'tokens': "
                             f"token ids}}; got {got}. Make the data with make_scenes(...).")
        images, tokens = check_images(inputs["image"]), check_tokens(inputs["tokens"])
        labels = {} if labels is None else check_labels(labels, self.tasks, images)
        return {"image": images, "tokens": tokens}, labels

    def has_relation(self, tokens: tf.Tensor) -> tf.Tensor:
        """``(B,)`` booleans: the question has a relation word."""
        ids = tf.clip_by_value(tokens, 0, len(self.vocabulary))
        return tf.reduce_any(tf.gather(tf.constant(self._relation_lookup), ids), axis=1)

    def call(self, inputs, labels, seed):
        images, tokens = inputs["image"], inputs["tokens"]
        seeds = split_seed(seed, max(len(self.ops), 1))
        active = None
        if self.text == "cautious" and self._guarded.any():
            plain = tf.logical_not(self.has_relation(tokens))
            active = tf.logical_or(plain[:, None], tf.constant(~self._guarded)[None, :])
        if self.text == "consistent":
            return run_ops(self.ops, seeds, images, labels, self.tasks,
                           fill_mode=self.fill_mode, tokens=tokens, words=self.vocabulary)
        run = run_ops(self.ops, seeds, images, labels, self.tasks, fill_mode=self.fill_mode,
                      active=active)
        return PolicyRun({"image": run.inputs, "tokens": tokens}, run.labels, run.weights,
                         run.transform)


def image_text(ops: Iterable[Op | str] | Op | str, tasks: Any, text: str = "consistent",
               **kwargs) -> ImageTextPolicy:
    """:class:`ImageTextPolicy`: ``image_text(["hflip"], tasks)`` flips images and rewrites
    their questions; ``text="unchanged"`` or ``"cautious"`` for the other ways.

    Introduced in notebook 12.
    """
    return ImageTextPolicy(ops, tasks, text=text, **kwargs)


def words_moved(ops: Iterable[str] | None = None) -> pd.DataFrame:
    """Per op (default: every registered op), the words its text hook swaps, or that it is
    refused for questions with relation words (no ``word_map``).

    Introduced in notebook 12.
    """
    names = list(OP_CLASSES) if ops is None else list(ops)
    rows = []
    for n in names:
        wm = OP_CLASSES.lookup(n, "words_moved").word_map
        rows.append({"op": n, "stage": OP_CLASSES[n].stage,
                     "question": ("refused where a task reads relation words" if wm is None
                                  else ", ".join(f"{a} -> {b}" for a, b in wm.items())
                                  or "unchanged")})
    return pd.DataFrame(rows).set_index("op")


# ------------------------------------------------------------------------------ damage
def substring_swap(text: str, pairs: Sequence[tuple[str, str]] = (("left", "right"),)) -> str:
    """A string rewrite as TransVG's and onestage_grounding's flips do it: each pair swapped
    by substring through a sentinel (so ``"bright"`` becomes ``"bleft"``).

    Introduced in notebook 12.
    """
    for a, b in pairs:
        text = text.replace(a, "\0").replace(b, a).replace("\0", b)
    return text


def damage_table(data: MultiTaskData, split: str = "test") -> pd.DataFrame:
    """What each way of flipping a split's examples does, exactly, computed from the scenes:
    every example's image flipped left-right (and the answers re-derived from the flipped
    scene by :func:`answer_questions`).

    Rows: ``unchanged`` (question kept: % of answers now false), ``substring`` (left/right
    swapped by substring: % of questions corrupted, i.e. no longer the grammar's words, and
    % of answers false), ``cautious`` (% of examples that lose the flip: questions with a
    relation word), ``consistent`` (tokens swapped by the flip's word map).

    Raises:
        ValueError: data without ``info["scenes"]`` (not from :func:`make_scenes`).

    Introduced in notebook 12.
    """
    if "scenes" not in data.info:
        raise ValueError(f"damage_table needs data from make_scenes (with info['scenes']); "
                         f"got {data.name!r}.")
    s = data.split(split)
    tokens, answers = s.images["tokens"], s.labels["answer"]
    flipped = data.info["scenes"][split].flipped()
    texts = decode(tokens, SCENE_VOCABULARY)
    relation = np.array([bool(set(t.split()) & RELATION_WORDS) for t in texts])
    hook = make_op("hflip")
    on = {"on": tf.ones([len(tokens)], tf.bool)}
    swapped = hook.transform_text(tf.constant(tokens), on, None, SCENE_VOCABULARY).numpy()
    sub = [substring_swap(t) for t in texts]
    sub_tokens = vectorize(sub, SCENE_VOCABULARY, tokens.shape[1])
    corrupted = np.array([a != b for a, b in zip(decode(sub_tokens, SCENE_VOCABULARY),
                                                  decode(swapped, SCENE_VOCABULARY))])
    rows = []
    for way, toks, lost in (("unchanged", tokens, 0.0), ("substring", sub_tokens, 0.0),
                            ("cautious", tokens, 100 * relation.mean()),
                            ("consistent", swapped, 0.0)):
        scene_answers = answer_questions(toks, flipped)
        if way == "cautious":  # no flip where the question has a relation word
            scene_answers = np.where(relation, answers, answer_questions(toks, flipped))
        rows.append({"text on flip": way,
                     "answers false %": 100 * float(np.mean(scene_answers != answers)),
                     "questions corrupted %": 100 * float(corrupted.mean()) if way == "substring"
                     else 0.0,
                     "examples unaugmented %": lost})
    return pd.DataFrame(rows).set_index("text on flip")

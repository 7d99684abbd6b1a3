"""Exercises a learner can check, in Kaggle Learn's shape: ``nb04.q1.check(answer)``,
``nb04.q1.hint()``, ``nb04.q1.solution()``.

Each checker runs the course's own contracts on what the learner built: an op runs the op
contract (:func:`mtl_utils.augment.check_op_contract`), a ``Task``'s invariances are compared
with measured label damage, a weighting rule with the package's reference on fixed losses,
per-task views with the policies' refusals (and, on request, a short training run), a text
task's protected words with the labeler, an inverse transform with
:meth:`~mtl_utils.policy.Transformation.unmove`.

``check`` prints "Correct", "Not yet: <what failed, by how much>" (an exception raised by the
learner's code is reported on one line, never as a traceback) or "Not answered yet" for the
placeholder (``None`` or ``...``), and returns a :class:`Result` (true when correct) so that
tests can assert on it. ``solution()`` prints the matching section of the course's
``solutions/<notebook>.py``, which ``make test`` runs through these same checkers.

Introduced in notebooks 00, 03, 04, 05, 09 and 10 (the "Checked exercises" cells).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import tensorflow as tf

from mtl_utils import augment, geometry, text
from mtl_utils.data import load_dataset, make_shapes, mask_centroids, shapes_tasks, to_dataset
from mtl_utils.experiments import Config, train_model
from mtl_utils.policy import Transformation
from mtl_utils.tasks import Task
from mtl_utils.text import grammar
from mtl_utils.weighting import dwa_weights

#: Where ``solution()`` reads from: ``solutions/`` next to the package in the course checkout.
SOLUTIONS_DIR = Path(__file__).resolve().parent.parent / "solutions"
NOTEBOOK_FILES = {"00": "00_tasks_and_data", "03": "03_weighted_losses",
                  "04": "04_augmentation_pipelines",
                  "05": "05_shared_vs_task_specific_augmentation",
                  "09": "09_text_augmentation", "10": "10_test_time_and_auxiliary"}


class NotYet(Exception):
    """A checker's verdict on a wrong answer: the message says what failed and by how much.

    Introduced in notebook 00.
    """


@dataclass(frozen=True)
class Result:
    """What :meth:`Exercise.check` found: ``correct``, ``answered`` and the printed
    ``message``. True when correct; shows nothing in a notebook (``check`` printed it).

    Introduced in notebook 00.
    """

    correct: bool
    answered: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def _ipython_display_(self) -> None:  # check() has printed the message already
        pass


def _one_line(err: BaseException) -> str:
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


class Exercise:
    """One checked exercise: ``check(answer)``, ``hint()``, ``solution()``.

    Args:
        notebook, number: e.g. ``"04"`` and ``1`` (its solution is the ``# ---- q1``
            section of ``solutions/04_augmentation_pipelines.py``).
        placeholder: the variable the learner fills in (named in "not answered yet").
        checker: ``checker(answer, **options) -> note``; raises :class:`NotYet` for a wrong
            answer. Any other exception counts as raised by the learner's code.
        hint: the text ``hint()`` prints.

    Introduced in notebook 00.
    """

    def __init__(self, notebook: str, number: int, placeholder: str,
                 checker: Callable[..., str], hint: str) -> None:
        self.notebook, self.number, self.placeholder = notebook, number, placeholder
        self.checker, self.hint_text = checker, hint

    def __repr__(self) -> str:
        return f"<exercise {self.number} of notebook {self.notebook}: .check(), .hint(), " \
               ".solution()>"

    def check(self, answer: Any, **options: Any) -> Result:
        """Check ``answer``; print and return the verdict (never raises for a wrong answer)."""
        if answer is None or answer is Ellipsis:
            return self._say(False, False, f"Not answered yet: set {self.placeholder}, then "
                             "run this cell again (ask for .hint() if you are stuck).")
        try:
            note = self.checker(answer, **options)
        except NotYet as err:
            return self._say(False, True, f"Not yet: {err}")
        except Exception as err:  # the learner's code raised: one line, no traceback
            return self._say(False, True, f"Not yet: your answer raised {_one_line(err)}")
        return self._say(True, True, f"Correct! {note}".rstrip())

    @staticmethod
    def _say(correct: bool, answered: bool, message: str) -> Result:
        print(message)
        return Result(correct, answered, message)

    def hint(self) -> None:
        """Print a hint."""
        print(f"Hint: {self.hint_text}")

    def solution_text(self) -> str:
        """The solution: the ``# ---- q<number>`` section of this notebook's solutions file."""
        path = SOLUTIONS_DIR / f"{NOTEBOOK_FILES[self.notebook]}.py"
        if not path.exists():
            return (f"The solutions are in solutions/{path.name} of the course repository "
                    "(not found next to this installed package).")
        sections = path.read_text().split("\n# ---- ")
        for section in sections[1:]:
            head, _, body = section.partition("\n")
            if head.split(":")[0].strip() == f"q{self.number}":
                return body.strip("\n")
        return f"(no section q{self.number} in solutions/{path.name})"

    def solution(self) -> None:
        """Print the solution."""
        print(f"Solution (solutions/{NOTEBOOK_FILES[self.notebook]}.py):\n")
        print(self.solution_text())


def _fmt(v: Any) -> str:
    return np.array2string(np.asarray(v, np.float64), precision=3, separator=", ",
                           suppress_small=True)


# =========================================================== 00: a Task for a new label
#: The ops whose damage to the "left half" label is measured (the built-in single-image ops).
def left_half_ops() -> tuple[str, ...]:
    """The course's own single-image ops (read from the registry, so a new built-in op joins
    the check; mixing ops and ``identity`` left out), which the left-half check measures.

    Introduced in notebook 00.
    """
    return tuple(name for name in augment.OP_NAMES
                 if augment.OP_CLASSES[name].__module__.startswith("mtl_utils.augment.")
                 and not issubclass(augment.OP_CLASSES[name], augment.MixingOp)
                 and name != "identity")

_CACHE: dict[str, Any] = {}


def left_half(masks: Any) -> np.ndarray:
    """The "is the object in the left half?" label: 1 where the mask's centroid has x < 0.5.

    Introduced in notebook 00.
    """
    return (mask_centroids(np.asarray(masks))[0][:, 0] < 0.5).astype(np.int32)


def _shapes_batch(n: int = 96):
    """``n`` shapes whose centroid is at least a pixel from the midline (the label is
    ambiguous on it)."""
    if "shapes" not in _CACHE:
        split = make_shapes(2 * n, seed=0, n_val=8, n_test=8).train
        x = mask_centroids(split.labels["mask"])[0][:, 0]
        keep = np.flatnonzero(np.abs(x - 0.5) * split.images.shape[2] > 1.0)[:n]
        _CACHE["shapes"] = split.images[keep], split.labels["mask"][keep]
    return _CACHE["shapes"]


def measured_left_damage(task: Task, ops: tuple[str, ...] | None = None, magnitude: int = 10
                         ) -> dict[str, int]:
    """How many of 96 shapes (their :func:`left_half` unambiguous) get a wrong ``task`` label
    after each op at ``magnitude``, the label moved as ``task`` says (``flip_class_map``
    included) but nothing refused: the truth is :func:`left_half` of the moved mask
    (:func:`mtl_utils.augment.label_damage`).

    Introduced in notebook 00.
    """
    ops = left_half_ops() if ops is None else ops
    images, masks = _shapes_batch()
    probe = Task.from_config({**task.get_config(), "not_invariant_to": []})
    mask_task = shapes_tasks()["mask"]
    labels = {task.name: left_half(masks), "mask": masks}

    def wrong(x, y):
        return {"wrong": np.asarray(y[task.name]) != left_half(y["mask"])}

    table = augment.label_damage(images, labels, {task.name: probe, "mask": mask_task}, wrong,
                                 list(ops), magnitudes=(magnitude,))
    return {op: int(round(table.loc[(op, magnitude), "wrong"] * len(images))) for op in ops}


def _check_left_task(task: Any) -> str:
    if not isinstance(task, Task):
        raise NotYet(f"expected a Task, got {type(task).__name__}; write "
                     "Task('left', 'class', num_classes=2, ...)")
    if task.kind != "class" or task.num_classes != 2:
        raise NotYet(f"the label is yes/no: a 'class' task with num_classes=2, got kind "
                     f"{task.kind!r}" + (f", num_classes={task.num_classes}"
                                         if task.kind == "class" else ""))
    if task.name == "mask":
        raise NotYet("name the task something other than 'mask' (the check moves a mask too)")
    unknown = sorted(set(task.not_invariant_to) - set(augment.OP_NAMES))
    if unknown:
        raise NotYet(f"not_invariant_to names {unknown}, which are not ops (ops: "
                     f"{', '.join(left_half_ops())})")
    n = len(_shapes_batch()[0])
    damage = measured_left_damage(task)
    declared = set(task.not_invariant_to)
    missing = [op for op in damage if damage[op] and op not in declared]
    extra = [op for op in damage if not damage[op] and op in declared]
    if missing:
        raise NotYet("these ops change the label and the Task does not declare them: " +
                     "; ".join(f"{op} makes {damage[op]} of {n} labels wrong "
                               f"({100 * damage[op] / n:.0f}%) at magnitude 10"
                               for op in missing) + ". Add them to not_invariant_to (or, for "
                     "a mirror, say how the classes swap).")
    if extra:
        raise NotYet("these declared ops never changed the label (0 of "
                     f"{n} at magnitude 10): {', '.join(extra)}. Declaring them only refuses "
                     "safe augmentation.")
    note = f"not_invariant_to={sorted(declared)} matches the measured damage."
    if "hflip" in declared:
        note += (" Better still: flip_class_map=(1, 0) keeps hflip, with the classes swapped, "
                 "instead of refusing it.")
    return note


# ============================================================ 03: DWA from its formula
DWA_CASES = (
    ([[0.9, 2.0]], 2.0),
    ([[1.0, 2.0], [0.5, 1.9]], 2.0),
    ([[1.2, 0.8, 3.0], [1.0, 0.9, 2.0]], 2.0),
    ([[1.2, 0.8, 3.0], [1.0, 0.9, 2.0]], 0.5),
    ([[2.0, 1.0], [1.5, 0.9], [0.6, 0.85]], 1.0),
)


def _check_dwa(fn: Any) -> str:
    if not callable(fn):
        raise NotYet(f"expected a function my_dwa(loss_history, temperature), got "
                     f"{type(fn).__name__}")
    for history, tau in DWA_CASES:
        want = dwa_weights(history, tau)
        got = np.asarray(fn([list(r) for r in history], tau), np.float64).reshape(-1)
        where = f"for loss_history={history} and temperature={tau}"
        if got.shape != want.shape:
            raise NotYet(f"{where} you return {got.size} weights; there are {want.size} tasks")
        if not np.allclose(got, want, rtol=1e-4, atol=1e-6):
            i = int(np.argmax(np.abs(got - want)))
            extra = (f" (yours sum to {got.sum():.3f}; the paper's sum to the number of "
                     f"tasks, {want.size})" if not math.isclose(got.sum(), want.sum(),
                                                                rel_tol=1e-4) else "")
            raise NotYet(f"{where} you give weights {_fmt(got)}, the paper's formula "
                         f"{_fmt(want)}: task {i}'s weight is off by {got[i] - want[i]:+.4f}"
                         + extra)
    return f"your weights match weighting.dwa_weights on all {len(DWA_CASES)} loss histories."


# ====================================================== 04: an augmentation op of your own
def _check_op(answer: Any) -> str:
    if isinstance(answer, type):
        if not issubclass(answer, augment.Op):
            raise NotYet(f"{answer.__name__} is not an op: subclass augment.GeometricOp")
        try:
            op = answer()
        except Exception as err:
            raise NotYet(f"{answer.__name__}() with its default fields raised "
                         f"{_one_line(err)}; give every field a default") from None
    else:
        op = answer
    if not isinstance(op, augment.GeometricOp):
        raise NotYet(f"expected a GeometricOp class (or instance), got {type(op).__name__}: "
                     "a stretch or shear moves labels, which is what the contract checks")
    if not op.magnitude_fields:
        raise NotYet("declare magnitude_fields (the fields a magnitude scales, e.g. "
                     "('amount',)): the contract checks that strength 0 is the identity")
    try:
        augment.check_op_contract(op)
    except augment.OpContractError as err:
        raise NotYet(f"the op contract fails on {op!r}: {err}") from None
    effect = augment.label_effect(shapes_tasks()["position"], op)
    return (f"{op!r} keeps the op contract (shapes, value range, same seed same output, "
            f"strength 0 is the identity, labels moved with the image: position {effect}).")


# ============================================ 05: per-task views for the shortcut data
SHORTCUT_TASKS = ("shape", "color")
#: How many points fewer shape answers by the colour rule must follow it with the views.
SHORTCUT_MARGIN = 5.0


def _views_data(n: int, seed: int):
    return load_dataset("shapes", n, seed=seed, image_size=24, shortcut=0.9)


def _check_views(views: Any, train: bool = False, seeds=(0,), n_train: int = 192,
                 epochs: int = 4) -> str:
    tasks = {t: shapes_tasks()[t] for t in SHORTCUT_TASKS}
    if not isinstance(views, Mapping):
        raise NotYet(f"expected a dict {{task: [ops]}}, got {type(views).__name__}")
    if set(views) != set(tasks):
        raise NotYet(f"give a view to each task, {sorted(tasks)}; got {sorted(views)}")
    try:
        policy = augment.per_task({t: list(views[t]) for t in tasks}, tasks)
    except ValueError as err:
        raise NotYet(f"per_task refuses these views: {_one_line(err)}") from None
    colour_ops = tasks["color"].not_invariant_to
    names = {t: [augment.make_op(o).name for o in views[t]] for t in tasks}
    if not colour_ops & set(names["shape"]):
        raise NotYet(f"shape's view {names['shape']} has no op that breaks the colour shortcut "
                     f"(one of {sorted(colour_ops)}): the shape task keeps reading shape "
                     "from colour")
    note = (f"the views {names} pass the refusals, and shape's view has an op that breaks "
            "the colour shortcut.")
    if not train:
        return note + " check(..., train=True) adds a short training run."
    # The verdict of a short run: on test images (colour says nothing about shape there),
    # how often does the shape head answer by the colour rule (colour // 2)?
    # The same per-task views with shape's colour ops taken out: the same model (one input
    # per task), so the difference is the colour ops alone.
    safe = {t: [o for o in views[t] if augment.make_op(o).name not in colour_ops]
            for t in tasks}
    factories = {"yours": lambda ts: augment.per_task({t: list(views[t]) for t in ts}, ts),
                 "without colour ops": lambda ts: augment.per_task(safe, ts)}
    follows: dict[str, list[float]] = {k: [] for k in factories}
    for seed in seeds:
        data = _views_data(n_train, seed)
        rule = data.test.labels["color"] // 2
        for name, factory in factories.items():
            config = Config(name, tasks=list(tasks), epochs=epochs, batch_size=32,
                            learning_rate=3e-3, augment=factory,
                            description=f"exercise 05 {name} {names}")
            model, _ = train_model(data, config, seed)
            policy = factory(tasks)
            test = to_dataset(data.test, tasks, 256, shuffle=False,
                              augment=policy.for_evaluation(),
                              per_task_inputs=policy.views_per_task)
            shape = model.predict(test, verbose=0)["shape"].argmax(-1)
            follows[name].append(100.0 * float(np.mean(shape == rule)))
    mine, other = np.mean(follows["yours"]), np.mean(follows["without colour ops"])
    note += (f" After {epochs} epochs on {n_train} shortcut shapes ({len(seeds)} seed(s)), "
             f"the shape head answers by the colour rule on {mine:.0f}% of test shapes with "
             f"your views, {other:.0f}% without the colour ops (chance: about 20%).")
    if other - mine < SHORTCUT_MARGIN:
        raise NotYet(note + f" That is not {SHORTCUT_MARGIN:.0f} points fewer: your views did "
                     "not clearly stop the shortcut in this run (short runs are noisy: try "
                     "seeds=(0, 1)).")
    return note


# ====================================================== 09: protected words for a new task
#: The new task: 1 for a positive review about electronics.
PRAISE_TOPIC = "electronics"
TEXT_CHECK_RATE = 0.3


def praise_label(tokens: Any) -> np.ndarray:
    """The new task's label from the labeler: a positive review about electronics.

    Introduced in notebook 09.
    """
    labels = text.label_tokens(tokens)
    return ((labels["topic"] == grammar.TOPICS.index(PRAISE_TOPIC))
            & (labels["sentiment"] == 1)).astype(np.int32)


def _reviews(n: int = 400):
    if "reviews" not in _CACHE:
        texts, _ = text.generate_reviews(n, seed=0)
        _CACHE["reviews"] = text.vectorize(texts)
    return _CACHE["reviews"]


def _check_praise(task: Any) -> str:
    if not isinstance(task, Task):
        raise NotYet(f"expected a Task, got {type(task).__name__}; write Task('praise', "
                     "'class', num_classes=2, depends_on=..., not_invariant_to=...)")
    read = grammar.DOMAIN_WORDS | grammar.SENTIMENT_WORDS
    unread = sorted(set(task.depends_on) - read)
    if unread:
        raise NotYet(f"depends_on protects {len(unread)} words the labeler never reads for "
                     f"this label (e.g. {', '.join(repr(w) for w in unread[:3])}): protecting "
                     "them only stops augmentation")
    unknown = sorted(set(task.not_invariant_to) - set(text.TEXT_OPS))
    if unknown:
        raise NotYet(f"not_invariant_to names {unknown}, which are not text ops "
                     f"({', '.join(text.TEXT_OPS)})")
    tokens = _reviews()
    before = praise_label(tokens)
    n = len(tokens)
    for op in text.TEXT_OPS:
        out = text.augment_tokens(tokens, [op], protected=task.depends_on,
                                  rate=TEXT_CHECK_RATE, seed=0)
        changed = np.flatnonzero(praise_label(out) != before)
        if op in task.not_invariant_to:
            if not len(changed):
                raise NotYet(f"you declare {op!r}, but with your protected words it changed "
                             f"no label (0 of {n} reviews at rate {TEXT_CHECK_RATE}): "
                             "declaring it only refuses a safe op")
            continue
        if len(changed):
            i = changed[0]
            raise NotYet(f"with your protected words, {op} changes the label of "
                         f"{len(changed)} of {n} reviews at rate {TEXT_CHECK_RATE}, e.g. "
                         f"{text.decode(tokens[i:i + 1])[0]!r} -> "
                         f"{text.decode(out[i:i + 1])[0]!r} (label {before[i]} -> "
                         f"{1 - before[i]}). Protect every word the rule reads, or declare "
                         "an op no protection can make safe")
    return (f"no op changes the label with {len(task.depends_on)} protected words, and "
            f"not_invariant_to={sorted(task.not_invariant_to)} refuses what protection "
            "cannot save.")


# ========================================== 10: the inverse transform for test-time TTA
UNROTATE_DEGREES = (30.0, -75.0, 90.0, 160.0)
POSITION_TASK = Task("position", "position")


def rotated_positions(position: np.ndarray, degrees: float, size: int = 32) -> np.ndarray:
    """``position`` (N, 2) as ``augment.Rotate`` moves it when it turns a ``size x size``
    image by ``degrees`` about its centre.

    Introduced in notebook 10.
    """
    transform = _rotation(len(position), degrees, size)
    moved, _ = transform.move({"position": tf.constant(position, tf.float32)},
                              {"position": POSITION_TASK})
    return moved["position"].numpy()


def _rotation(n: int, degrees: float, size: int) -> Transformation:
    theta = tf.fill([n], math.radians(degrees))
    return Transformation(geometry.centered(geometry.rotation(theta), size, size),
                          tf.zeros([n], tf.bool), size, size)


def _check_unrotate(fn: Any) -> str:
    if not callable(fn):
        raise NotYet(f"expected a function unrotate(position, degrees), got "
                     f"{type(fn).__name__}")
    rng = np.random.default_rng(0)
    original = rng.uniform(0.3, 0.7, (6, 2)).astype(np.float32)
    for degrees in UNROTATE_DEGREES:
        seen = rotated_positions(original, degrees)
        want = _rotation(len(seen), degrees, 32).unmove(
            {"position": tf.constant(seen)}, {"position": POSITION_TASK})["position"].numpy()
        got = np.asarray(fn(seen.copy(), degrees), np.float64)
        if got.shape != want.shape:
            raise NotYet(f"unrotate(position, {degrees}) returns shape {got.shape}, expected "
                         f"{want.shape} (one (x, y) per example)")
        gap = np.linalg.norm(got - want, axis=1) * 32
        if gap.max() > 0.05:
            i = int(np.argmax(gap))
            raise NotYet(f"for degrees={degrees}, example {i} lands {gap[i]:.2f} px from "
                         f"where the object is (expected {_fmt(want[i])}, got {_fmt(got[i])})"
                         ". Rotate about the centre (0.5, 0.5), by minus the angle; on screen "
                         "y points down")
    return (f"unrotate matches Transformation.unmove for {len(UNROTATE_DEGREES)} angles: "
            "averaging positions over rotated views is now meaningful.")


# ================================================================== the exercises
nb00 = SimpleNamespace(q1=Exercise(
    "00", 1, "left_task to your Task", _check_left_task,
    "Measure before you declare: which ops can carry an object across the vertical midline? "
    "Colour ops cannot. A zoom about the centre keeps each side. A left-right flip swaps the "
    "sides of every object: refuse it, or say how the classes swap (flip_class_map)."))
nb03 = SimpleNamespace(q1=Exercise(
    "03", 1, "my_dwa to your function", _check_dwa,
    "Before two epochs every weight is 1. Then r_t = L_t(last) / L_t(the one before), and "
    "w = T * softmax(r / temperature): the weights sum to the number of tasks T."))
nb04 = SimpleNamespace(q1=Exercise(
    "04", 1, "MyStretch to your op class", _check_op,
    "Subclass augment.GeometricOp as a frozen dataclass with a field amount and "
    "magnitude_fields = ('amount',); in matrices(seed, n, height, width, strength) draw "
    "u = augment.signed_unit(seed, n, strength) and return geometry.zoom(1 / (1 + amount * u),"
    " tf.ones([n])): the runner moves every label with the matrix."))
nb05 = SimpleNamespace(q1=Exercise(
    "05", 1, "my_views to a dict {task: [ops]}", _check_views,
    "The shape task must see colours that say nothing about shape (hue, grayscale); the "
    "colour task declares those ops in not_invariant_to, so only shape's view can take them. "
    "Both can take flips."))
nb09 = SimpleNamespace(q1=Exercise(
    "09", 1, "praise_task to your Task", _check_praise,
    "The label reads two things: the topic (domain words) and the sentiment (evaluative "
    "words, negators, modifiers, contrast words: grammar.SENTIMENT_WORDS). Protect both; an "
    "op that protection cannot make safe is declared in not_invariant_to, as the sentiment "
    "task does."))
nb10 = SimpleNamespace(q1=Exercise(
    "10", 1, "unrotate to your function", _check_unrotate,
    "Subtract the centre (0.5, 0.5), turn by minus the angle, add the centre back. With y "
    "pointing down, a counter-clockwise turn on screen by theta maps (dx, dy) to "
    "(cos dx + sin dy, -sin dx + cos dy); its inverse uses -theta."))

EXERCISES = {"00": nb00, "03": nb03, "04": nb04, "05": nb05, "09": nb09, "10": nb10}

"""The checked exercises (``mtl_utils.exercises``): every solution in ``solutions/`` passes its
checker; every checker rejects at least one wrong answer with a message naming the problem;
a placeholder prints "not answered yet"; ``hint()`` and ``solution()`` print text; a wrong
answer that raises is reported on one line, never as a traceback."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import tensorflow as tf

from mtl_utils import augment, geometry
from mtl_utils import exercises as E
from mtl_utils.tasks import Task
from mtl_utils.text import grammar

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"
# exercise -> (solutions file, the name the solution binds)
ANSWERS = {"nb00": ("00_tasks_and_data", "left_task"),
           "nb03": ("03_weighted_losses", "my_dwa"),
           "nb04": ("04_augmentation_pipelines", "MyStretch"),
           "nb05": ("05_shared_vs_task_specific_augmentation", "my_views"),
           "nb09": ("09_text_augmentation", "praise_task"),
           "nb10": ("10_test_time_and_auxiliary", "unrotate")}


def _load(stem: str):
    spec = importlib.util.spec_from_file_location(f"solution_{stem}", SOLUTIONS / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def solutions():
    """The solution of every exercise (loading 04's registers its op: unregistered after)."""
    yield {q: getattr(_load(stem), name) for q, (stem, name) in ANSWERS.items()}
    augment.OP_CLASSES.unregister("my_stretch")


def test_every_notebook_with_exercises_has_a_solutions_file():
    assert set(E.EXERCISES) == {"00", "03", "04", "05", "09", "10"}
    files = {p.stem for p in SOLUTIONS.glob("*.py")}
    assert files == set(E.NOTEBOOK_FILES.values())
    for nb, stem in E.NOTEBOOK_FILES.items():
        assert (Path(__file__).resolve().parent.parent / "notebooks" / f"{stem}.ipynb").exists()
        assert E.EXERCISES[nb] is getattr(E, f"nb{nb}")


@pytest.mark.parametrize("q", list(ANSWERS))
def test_every_solution_passes_its_checker(q, solutions, capsys):
    result = getattr(E, q).q1.check(solutions[q])
    out = capsys.readouterr().out
    assert result and result.answered and out.startswith("Correct!"), out


@pytest.mark.parametrize("q", list(ANSWERS))
def test_a_placeholder_is_not_answered_yet_and_hint_and_solution_print_text(q, capsys):
    exercise = getattr(E, q).q1
    for placeholder in (None, ...):
        result = exercise.check(placeholder)
        assert not result and not result.answered
        assert capsys.readouterr().out.lower().startswith("not answered yet")
    exercise.hint()
    assert capsys.readouterr().out.startswith("Hint: ")
    exercise.solution()
    text = capsys.readouterr().out
    assert text.startswith("Solution (solutions/") and ANSWERS[q][1] in text
    assert "(no section" not in text and "# ----" not in text


def _rejects(exercise, answer, *fragments: str, **options) -> str:
    result = exercise.check(answer, **options)
    assert result.answered and not result and result.message.startswith("Not yet: ")
    assert "Traceback" not in result.message and "\n" not in result.message
    for fragment in fragments:
        assert fragment in result.message, result.message
    return result.message


# ------------------------------------------------------------------ 00: a Task's invariances
def test_00_rejects_a_task_whose_invariances_the_damage_contradicts():
    q = E.nb00.q1
    _rejects(q, Task("left", "class", num_classes=2),
             "hflip makes", "rotate makes", "quarter_turn makes", "translate makes",
             "of 96 labels wrong",
             "not_invariant_to")
    over = Task("left", "class", num_classes=2, flip_class_map=(1, 0),
                not_invariant_to={"rotate", "quarter_turn", "translate", "shear", "zoom", "hue"})
    _rejects(q, over, "never changed the label", "zoom, hue")
    _rejects(q, Task("left", "position"), "num_classes=2")
    _rejects(q, "left", "expected a Task")
    _rejects(q, Task("left", "class", num_classes=2, not_invariant_to={"rotation"}),
             "names ['rotation'], which are not ops")
    refused = Task("left", "class", num_classes=2,
                   not_invariant_to={"hflip", "rotate", "quarter_turn", "translate", "shear"})
    assert q.check(refused) and "flip_class_map=(1, 0)" in q.check(refused).message


# ------------------------------------------------------------------ 03: DWA
def test_03_rejects_dwa_without_temperature_or_scale_and_reports_a_raise_in_one_line():
    q = E.nb03.q1

    def no_temperature(history, temperature=2.0):
        h = np.asarray(history)
        if len(h) < 2:
            return np.ones(h.shape[1])
        e = np.exp(h[-1] / h[-2])
        return len(e) * e / e.sum()

    def no_scale(history, temperature=2.0):
        h = np.asarray(history)
        if len(h) < 2:
            return np.ones(h.shape[1]) / h.shape[1]
        e = np.exp(h[-1] / h[-2] / temperature)
        return e / e.sum()

    def crashes(history, temperature=2.0):
        return np.asarray(history)[-1] / np.asarray(history)[-2]  # one epoch: IndexError

    _rejects(q, no_temperature, "temperature=2.0", "is off by")
    _rejects(q, no_scale, "sum to 1.000", "number of tasks, 2")
    _rejects(q, crashes, "your answer raised IndexError: index -2 is out of bounds")
    _rejects(q, 3, "expected a function")


# ------------------------------------------------------------------ 04: an op
@dataclass(frozen=True)
class FixedStretch(augment.GeometricOp):  # no name: not registered
    """Always the same stretch: ignores its seed and its strength."""

    amount: float = 0.3
    magnitude_fields: ClassVar[tuple[str, ...]] = ("amount",)

    def matrices(self, seed, n, height, width, strength):
        return geometry.zoom(tf.fill([n], 1.3), tf.ones([n]))


@dataclass(frozen=True)
class NoIdentity(augment.GeometricOp):
    """Random, but at strength 0 still stretches (the 1 + ... forgot the amount)."""

    amount: float = 0.3
    magnitude_fields: ClassVar[tuple[str, ...]] = ("amount",)

    def matrices(self, seed, n, height, width, strength):
        u = augment.signed_unit(seed, n, strength)
        return geometry.zoom(1.0 / (1.2 + self.amount * u), tf.ones([n]))


@dataclass(frozen=True)
class Broken(augment.GeometricOp):
    amount: float = 0.3
    magnitude_fields: ClassVar[tuple[str, ...]] = ("amount",)

    def matrices(self, seed, n, height, width, strength):
        raise RuntimeError("not written yet")


def test_04_runs_the_op_contract_and_names_the_property_that_failed():
    q = E.nb04.q1
    _rejects(q, FixedStretch, "op contract fails", "another seed, another output")
    _rejects(q, NoIdentity, "strength 0 is the identity", "pixels change by up to")
    _rejects(q, Broken, "your answer raised RuntimeError: not written yet")
    _rejects(q, augment.Noise, "expected a GeometricOp")
    _rejects(q, augment.HFlip, "declare magnitude_fields")
    assert q.check(augment.Shear)  # a built-in geometric op keeps it, of course


def test_the_contract_names_an_out_of_range_output():
    @dataclass(frozen=True)
    class TooBright(augment.PhotometricOp):
        amount: float = 0.5
        p: float = 1.0
        magnitude_fields: ClassVar[tuple[str, ...]] = ("amount",)

        def draw_params(self, seed, shape, strength):
            return {"delta": self.amount * augment.unit(seed, shape[0], strength)}

        def transform(self, images, params):
            return images + augment.expand(params["delta"])

    with pytest.raises(augment.OpContractError, match=r"value range: .* outside \[0, 1\] by"):
        augment.check_op_contract(TooBright())


# ------------------------------------------------------------------ 05: per-task views
def test_05_rejects_views_a_policy_refuses_or_that_keep_the_shortcut():
    q = E.nb05.q1
    _rejects(q, {"shape": ["hflip", "hue"], "color": ["hflip", "hue"]},
             "per_task refuses these views", "color")
    _rejects(q, {"shape": ["hflip"], "color": ["hflip"]},
             "no op that breaks the colour shortcut")
    _rejects(q, {"shape": ["hue"]}, "give a view to each task")
    _rejects(q, ["hue"], "expected a dict")


def test_05_training_verdict_passes_the_solution_and_rejects_a_view_too_weak_to_matter(
        solutions, capsys):
    # The short run behind check(..., train=True): the solution's colour ops stop the shape
    # head from answering by the colour rule; a brightness nudge passes the refusals (it is a
    # colour op) but changes nothing the run can see.
    q = E.nb05.q1
    assert q.check(solutions["nb05"], train=True), capsys.readouterr().out
    _rejects(q, {"shape": [augment.Brightness(0.001)], "color": []}, "not 5 points fewer",
             train=True)


# ------------------------------------------------------------------ 09: protected words
def test_09_rejects_protected_words_the_labeler_shows_too_few_or_too_many():
    q = E.nb09.q1
    electronics = frozenset(w for w, r in grammar.WORD_ROLES.items()
                            if r == "domain:electronics")
    _rejects(q, Task("praise", "class", num_classes=2, depends_on=electronics,
                     not_invariant_to={"insert"}), "swap changes the label", "->")
    _rejects(q, Task("praise", "class", num_classes=2,
                     depends_on=electronics | grammar.SENTIMENT_WORDS),
             "insert changes the label")
    _rejects(q, Task("praise", "class", num_classes=2, depends_on=set(grammar.VOCABULARY[2:])),
             "never reads")
    _rejects(q, Task("praise", "class", num_classes=2, depends_on=grammar.DOMAIN_WORDS |
                     grammar.SENTIMENT_WORDS, not_invariant_to={"insert", "synonym"}),
             "you declare 'synonym'")


# ------------------------------------------------------------------ 10: an inverse
def test_10_rejects_the_forward_rotation_and_a_wrong_shape():
    q = E.nb10.q1

    def forward(position, degrees):  # turns the same way again instead of back
        t = np.radians(degrees)
        d = np.asarray(position) - 0.5
        return 0.5 + np.stack([np.cos(t) * d[:, 0] + np.sin(t) * d[:, 1],
                               -np.sin(t) * d[:, 0] + np.cos(t) * d[:, 1]], 1)

    _rejects(q, forward, "for degrees=30.0", "px from where the object is")
    _rejects(q, lambda p, d: p[:, 0], "returns shape (6,)")

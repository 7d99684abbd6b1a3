"""The op interface, the op registry and vocabulary, and the random draws op authors use.

An op draws its parameters once (:meth:`Op.draw`) and has one hook per stage, each called
by :func:`~mtl_utils.augment.run_ops` on every op of a view, in stage order:

1. :meth:`Op.matrix` (geometric): the op's forward matrix; the view's matrices are composed
   and the image is warped once, every label moved with it by its kind;
2. :meth:`Op.transform_images` (photometric): new pixel values, labels kept;
3. :meth:`Op.mix` (mixing): images and labels mixed across the batch.

The base class passes everything through; :class:`GeometricOp`, :class:`PhotometricOp` and
:class:`MixingOp` each fill in their stage. Defining a subclass with a ``name`` registers it
in :data:`OP_CLASSES`, and every op list of the package (:data:`OP_NAMES`,
:data:`DEFAULT_POOL`, ...) is read from that registry when it is used: a new op, in any
module, is one class.

Introduced in notebook 04.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from typing import Any, ClassVar

import tensorflow as tf

from mtl_utils import geometry
from mtl_utils.policy import split_seed
from mtl_utils.registry import Registry
from mtl_utils.tasks import Task

#: Every op class by name, filled in as :class:`Op` subclasses with a ``name`` are defined.
OP_CLASSES: Registry[type[Op]] = Registry("augmentation op", "mtl_utils.augment.OP_CLASSES")
STAGES: tuple[str, ...] = ("identity", "geometric", "photometric", "mixing")


def rewrite_phrases(tokens: tf.Tensor, turns: tf.Tensor, maps: Sequence[Mapping[str, str]],
                    words: Sequence[str], name: str = "op") -> tf.Tensor:
    """``(B, L)`` token ids with each phrase (one or two words) of ``maps[k]`` rewritten in
    the rows whose ``turns`` is ``k``: whole tokens only, the rest of each text kept in order
    (ids outside ``words`` too) and padded with id 0 at the end. Phrases with a word outside
    ``words`` are left alone. The text hook behind :meth:`Op.transform_text`.

    Raises:
        ValueError: a phrase of more than two words.
        InvalidArgumentError: a text too long for its ``L`` tokens once rewritten.
    """
    index = {w: i for i, w in enumerate(words)}

    def ids(phrase):
        return [index.get(w) for w in phrase.split()]

    rules = []  # (k, source ids, target ids), two-token sources first
    for k, table in enumerate(maps):
        for a, b in table.items():
            src, tgt = ids(a), ids(b)
            if k and a != b and None not in src + tgt:
                if not (1 <= len(src) <= 2 and 1 <= len(tgt) <= 2):
                    raise ValueError(f"{name}: phrases of one or two words only; "
                                     f"got {a!r} -> {b!r}.")
                rules.append((k, src, tgt))
    rules.sort(key=lambda r: -len(r[1]))
    if not rules:
        return tokens
    dt = tokens.dtype
    n, length = tf.shape(tokens)[0], tf.shape(tokens)[1]
    turns = tf.cast(turns, dt)[:, None]
    nxt = tf.concat([tokens[:, 1:], tf.fill([n, 1], tf.constant(-1, dt))], axis=1)
    first, second = tokens, tf.zeros_like(tokens)  # up to two tokens out per token in
    keep_first = tf.ones_like(tokens, tf.bool)
    keep_second = tf.zeros_like(tokens, tf.bool)
    done = tf.zeros_like(tokens, tf.bool)  # rewritten, or the second word of a phrase
    for k, src, tgt in rules:
        hit = (turns == k) & (tokens == src[0]) & ~done
        if len(src) == 2:
            hit &= nxt == src[1]
            tail = tf.pad(hit[:, :-1], [[0, 0], [1, 0]])  # the phrase's second word
            keep_first &= ~tail
            done |= tail
        first = tf.where(hit, tf.constant(tgt[0], dt), first)
        if len(tgt) == 2:
            second = tf.where(hit, tf.constant(tgt[1], dt), second)
        keep_second = tf.where(hit, len(tgt) == 2, keep_second)
        done |= hit
    out = tf.reshape(tf.stack([first, second], -1), [n, 2 * length])
    keep = tf.reshape(tf.stack([keep_first, keep_second], -1), [n, 2 * length])
    pos = tf.cumsum(tf.cast(keep, tf.int32), axis=1) - 1
    lost = keep & (pos >= length) & (out != 0)
    with tf.control_dependencies([tf.debugging.assert_equal(
            tf.reduce_any(lost), False, message=(
                f"{name}: a text rewritten by its op no longer fits its tokens (a phrase "
                "grew by a word); vectorize the texts with one more token of padding."))]):
        where = tf.where(keep & (pos < length))
    at = tf.stack([where[:, 0], tf.cast(tf.gather_nd(pos, where), tf.int64)], axis=1)
    return tf.scatter_nd(at, tf.gather_nd(out, where), tf.cast(tf.shape(tokens), tf.int64))


class Op:
    """Base class of augmentation ops.

    Class attributes describe the op: ``name`` (registers the class), ``stage`` (set by the
    stage base classes), ``magnitude_fields`` (fields a RandAugment magnitude scales),
    ``needs_rgb``, ``pool`` (parameters at full strength, magnitude 10; ``None`` keeps the
    op out of the random pool) and ``limits`` (``{field: (low, high)}``, inclusive; ``high``
    may be ``None``; a third element ``")"`` makes ``high`` exclusive). Dataclass ops get
    their fields checked against ``limits`` (and ``p`` against ``[0, 1]``) when built.

    Raises:
        TypeError: a named subclass without a stage (subclass a stage base class).
        ValueError: a name another op class has (``OP_CLASSES.unregister(name)`` first).

    Introduced in notebook 04.
    """

    name: ClassVar[str] = ""
    stage: ClassVar[str] = ""
    magnitude_fields: ClassVar[tuple[str, ...]] = ()
    needs_rgb: ClassVar[bool] = False
    pool: ClassVar[Mapping[str, Any] | None] = None
    limits: ClassVar[Mapping[str, tuple]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and cls.name:
            if cls.stage not in STAGES:
                raise TypeError(f"op class {cls.__name__} ({cls.name!r}) has no stage; "
                                "subclass GeometricOp, PhotometricOp or MixingOp.")
            OP_CLASSES.register(cls.name, cls)

    def __post_init__(self) -> None:
        limits = dict(self.limits)
        if hasattr(self, "p"):
            limits.setdefault("p", (0.0, 1.0))
        for field, (lo, hi, *kind) in limits.items():
            v, open_hi = getattr(self, field), kind == [")"]
            if v < lo or (hi is not None and (v >= hi if open_hi else v > hi)):
                top = "inf)" if hi is None else f"{hi}{')' if open_hi else ']'}"
                raise ValueError(f"{self.name}: {field} must be in [{lo}, {top}; got {v}.")

    def draw(self, seed: tf.Tensor, shape: Sequence[Any], strength: tf.Tensor | None = None
             ) -> dict[str, Any]:
        """Draw this op's parameters for a batch of ``shape = (B, H, W, C)``, once.

        ``strength`` (``(B,)`` in ``[0, 1]``, random policies) replaces the draw by that
        fraction of the op's range, and the op is then always applied.
        """
        return {}

    def matrix(self, params: Mapping[str, Any], active: tf.Tensor | None
               ) -> tuple[tf.Tensor, tf.Tensor] | None:
        """The geometric stage: ``(matrices, hflip)``, ``(B, 3, 3)`` forward matrices about
        the image centre and ``(B,)`` mirror flags, or ``None`` (the op moves nothing).
        ``active`` (``(B,)`` booleans, random policies): the identity where False."""
        return None

    def transform_images(self, images: tf.Tensor, params: Mapping[str, Any],
                         active: tf.Tensor | None) -> tf.Tensor:
        """The photometric stage: the images with new pixel values (default: unchanged)."""
        return images

    def mix(self, images: tf.Tensor, labels: Mapping[str, tf.Tensor],
            params: Mapping[str, Any], tasks: Mapping[str, Task], naive: bool = False
            ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The mixing stage: images and labels mixed across the batch (default: unchanged)."""
        return images, dict(labels)

    #: The text hook's rule: the words this op swaps in a text about its image where it
    #: acts (``{"left": "right", "right": "left"}`` for a horizontal flip); ``{}`` moves no
    #: word (photometric ops, shifts, zooms: the order of objects is kept); ``None``: its
    #: effect on such a text cannot be said in words (rotations, shears, mixing), so a
    #: text-consistent policy refuses it for a task whose label reads the relation words.
    #: Keys and values are phrases of one or two whole words. An op whose rewrite depends on
    #: its draw overrides :meth:`text_turns` and :meth:`phrase_maps`
    #: (:class:`~mtl_utils.augment.QuarterTurn`: its map applied once per quarter turn).
    word_map: ClassVar[Mapping[str, str] | None] = {}

    def acted(self, params: Mapping[str, Any], active: tf.Tensor | None) -> tf.Tensor | None:
        """``(B,)`` booleans: the examples this op acted on (``None``: every example)."""
        on = params.get("on")
        if active is None:
            return on
        return active if on is None else tf.logical_and(on, active)

    def text_turns(self, params: Mapping[str, Any], active: tf.Tensor | None,
                   batch: tf.Tensor) -> tf.Tensor:
        """``(B,)`` int32: how many times :attr:`word_map` applies to each example's text
        (default: once where the op :meth:`acted`; an op whose rewrite depends on its draw,
        such as a quarter turn, says how many times)."""
        acted = self.acted(params, active)
        return tf.ones([batch], tf.int32) if acted is None else tf.cast(acted, tf.int32)

    def phrase_maps(self) -> list[dict[str, str]]:
        """The phrase maps of :attr:`word_map` applied 0, 1, ... times (index = the count
        :meth:`text_turns` gives): an identity and the map itself, by default."""
        return [{a: a for a in self.word_map}, dict(self.word_map)]

    def transform_text(self, tokens: tf.Tensor, params: Mapping[str, Any],
                       active: tf.Tensor | None, words: Sequence[str]) -> tf.Tensor:
        """The text hook: ``(B, L)`` token ids of texts about the images (``words`` is their
        vocabulary, id ``i`` the word ``words[i]``) rewritten as the op's draw changed the
        images, whole tokens only (``"bright"`` is one token, never ``"b" + "right"``):
        each phrase of :attr:`word_map` (one or two words) rewritten as
        :meth:`phrase_maps` says for the :meth:`text_turns` each example got; the rest of
        the text is kept in order (ids outside the vocabulary too) and padded with id 0.

        Raises:
            ValueError: an op whose :attr:`word_map` is ``None`` (its effect cannot be said).
            InvalidArgumentError: a text too long for its ``L`` tokens once rewritten (a
                phrase grew by a word): vectorize with room for one more token.

        Introduced in notebook 12.
        """
        if self.word_map is None:
            raise ValueError(f"op {self.name!r} declares no word_map: its effect on a text "
                             "about the image cannot be said in words. Drop it, or apply it "
                             "only to texts without relation words.")
        if not self.word_map:
            return tokens
        turns = self.text_turns(params, active, tf.shape(tokens)[0])
        return rewrite_phrases(tokens, turns, self.phrase_maps(), words, self.name)

    def check_tasks(self, tasks: Mapping[str, Task]) -> None:
        """Raise ``ValueError`` if the op cannot keep some task's label valid (beyond the
        tasks' own ``not_invariant_to``); mixing ops check that every kind can mix."""

    def label_effect(self, task: Task) -> str:
        """What the op does to ``task``'s label, beyond ``not_invariant_to`` (see
        :func:`~mtl_utils.augment.label_effect`); default ``"kept"``."""
        return "kept"

    def at_strength(self, fraction: float) -> Op:
        """This op with its :attr:`magnitude_fields` times ``fraction`` (itself if none)."""
        if not self.magnitude_fields:
            return self
        return dataclasses.replace(self, **{f: getattr(self, f) * fraction
                                            for f in self.magnitude_fields})

    # Traits a geometric op's label effects read (see mtl_utils.kinds): overridden there.
    mirrors: ClassVar[bool] = False
    changes_scale: ClassVar[bool] = False
    changes_orientation: ClassVar[bool] = False


@dataclasses.dataclass(frozen=True)
class Identity(Op):
    """The op that does nothing (RandAugment/TrivialAugment's "identity" choice).

    Introduced in notebook 04.
    """

    name: ClassVar[str] = "identity"
    stage: ClassVar[str] = "identity"
    pool: ClassVar[Mapping[str, Any]] = {}


class GeometricOp(Op):
    """Base of geometric ops: subclasses implement :meth:`matrices` (one forward matrix per
    example, about the image centre) and set the traits label kinds read (``mirrors``,
    ``changes_scale``, ``changes_orientation``). The policy composes the matrices of a
    view, warps the image once and moves every label by its kind.

    Introduced in notebook 04.
    """

    stage: ClassVar[str] = "geometric"
    changes_orientation: ClassVar[bool] = True
    word_map: ClassVar[Mapping[str, str] | None] = None  # unknown unless the op says
    p: float = 1.0

    def matrices(self, seed: tf.Tensor, n: Any, height: Any, width: Any,
                 strength: tf.Tensor | None) -> tf.Tensor:
        """``(n, 3, 3)`` forward matrices about the centre, drawn within the op's range."""
        raise NotImplementedError

    def draw(self, seed, shape, strength=None):
        n, h, w = shape[0], shape[1], shape[2]
        s_apply, s_par = split_seed(seed, 2)
        m = self.matrices(s_par, n, h, w, strength)
        params = {"hflip": tf.zeros([n], tf.bool)}
        if strength is None and self.p < 1.0:
            params["on"] = coin(s_apply, n, self.p)
            m = tf.where(params["on"][:, None, None], m, geometry.eye(n))
        return {"matrix": m, **params}

    def matrix(self, params, active):
        m, hflip = params["matrix"], params["hflip"]
        if active is not None:
            m = tf.where(active[:, None, None], m, geometry.eye(tf.shape(m)[0]))
            hflip = tf.logical_and(hflip, active)
        return m, hflip

    def label_effect(self, task):
        return task.label_kind.effect(task, self)

    def check_tasks(self, tasks):
        for t in tasks.values():  # a kind may refuse to follow this op (notebook 11)
            t.label_kind.check_op(t, self, tasks)


class PhotometricOp(Op):
    """Base of photometric ops (pixel values only; labels kept): subclasses implement
    :meth:`draw_params` and :meth:`transform`; each example is changed with probability ``p``.

    Introduced in notebook 04.
    """

    stage: ClassVar[str] = "photometric"
    p: float = 1.0

    def draw_params(self, seed: tf.Tensor, shape: Sequence[Any],
                    strength: tf.Tensor | None) -> dict[str, Any]:
        """The op's random parameters for a batch of ``shape`` (see :meth:`Op.draw`)."""
        return {}

    def transform(self, images: tf.Tensor, params: Mapping[str, Any]) -> tf.Tensor:
        """Every image of the batch transformed with ``params``."""
        raise NotImplementedError

    def draw(self, seed, shape, strength=None):
        s_apply, s_par = split_seed(seed, 2)
        params = self.draw_params(s_par, shape, strength)
        if strength is None and self.p < 1.0:
            params["on"] = coin(s_apply, shape[0], self.p)
        return params

    def transform_images(self, images, params, active):
        if self.needs_rgb and images.shape[-1] != 3:
            raise ValueError(
                f"op {self.name!r} needs RGB images (C=3); got C={images.shape[-1]}. Drop "
                f"{self.name!r} from the policy for grayscale data (random policies skip it "
                "automatically).")
        out = self.transform(images, params)
        out = tf.where(expand(params["on"]), out, images) if "on" in params else out
        return out if active is None else tf.where(expand(active), out, images)


class MixingOp(Op):
    """Base of mixing ops (run last): subclasses draw ``lam``, ``partner`` (and optionally
    ``box``) and implement :meth:`mix_images`; every label is mixed by its kind.

    Introduced in notebook 04.
    """

    stage: ClassVar[str] = "mixing"
    word_map: ClassVar[Mapping[str, str] | None] = None  # a mix of two scenes has no text

    def mix_images(self, images: tf.Tensor, params: Mapping[str, Any]) -> tf.Tensor:
        """The images mixed with their partners' (``params`` from :meth:`draw`)."""
        raise NotImplementedError

    def mix(self, images, labels, params, tasks, naive=False):
        images = self.mix_images(images, params)
        if naive:
            return images, dict(labels)
        return images, {n: tasks[n].label_kind.mix(tasks[n], y, params["partner"],
                                                   params["lam"], params.get("box"))
                        for n, y in labels.items()}

    def check_tasks(self, tasks):
        for t in tasks.values():
            if not t.label_kind.mixable:
                raise ValueError(
                    f"{self.name} is not defined for task {t.name!r} (kind {t.kind!r}): a mix "
                    f"of two {t.kind} labels is not the label of the mixed image. Drop "
                    f"{self.name!r}, use per_task(...) to give {self.name!r} only to "
                    "class/mask tasks, or build with naive=True to mix images and leave "
                    "labels untouched.")

    def label_effect(self, task):
        return "mixed" if task.label_kind.mixable else "refused"


# --------------------------------------------------------------------- vocabulary
def op_names(stage: str | None = None) -> tuple[str, ...]:
    """Names of the registered ops, optionally of one stage: by stage (identity, geometric,
    photometric, mixing), then in the order the classes were defined.

    Introduced in notebook 04.
    """
    ordered = sorted(OP_CLASSES.items(), key=lambda kv: STAGES.index(kv[1].stage))
    return tuple(n for n, c in ordered if stage is None or c.stage == stage)


def check_op_names(names: Iterable[str], where: str) -> None:
    """Raise ``ValueError`` naming the unknown op and listing the known op names."""
    for n in names:
        OP_CLASSES.lookup(n, where)


def pool_op(name: str) -> Op:
    """Op ``name`` at full strength (magnitude 10), as it sits in :data:`DEFAULT_POOL`.

    Raises:
        ValueError: an unknown op, or one that is not in the pool (mixing ops).

    Introduced in notebook 06.
    """
    cls = OP_CLASSES.lookup(name, "pool_op")
    if cls.pool is None:
        raise ValueError(f"op {name!r} has no full-strength setting in the random pool "
                         f"(mixing ops have no magnitude); use make_op({name!r}) or "
                         f"{cls.__name__}(...).")
    return cls(**cls.pool)


def default_pool() -> tuple[Op, ...]:
    """Every registered op with a ``pool`` setting, at magnitude 10: RandAugment's and
    TrivialAugment's pool, including ops defined in your own modules.

    Introduced in notebook 04.
    """
    return tuple(pool_op(n) for n in op_names() if OP_CLASSES[n].pool is not None)


class OpNames(Sequence[str]):
    """The registered op names (of one stage), read from :data:`OP_CLASSES` on every use:
    a tuple that follows the registry. ``tuple(names)`` takes a snapshot.

    Introduced in notebook 04.
    """

    def __init__(self, stage: str | None = None) -> None:
        self.stage = stage

    def _names(self) -> tuple[str, ...]:
        return op_names(self.stage)

    def __getitem__(self, i):
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]  # it changes with the registry

    def __repr__(self) -> str:
        return repr(self._names())


class ColorOps(Set):
    """The names of the registered ops that need RGB images, read on every use.

    Introduced in notebook 04.
    """

    def _names(self) -> frozenset[str]:
        return frozenset(n for n in op_names() if OP_CLASSES[n].needs_rgb)

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names()))

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


class MagnitudeFields(Mapping[str, tuple[str, ...]]):
    """``{op name: fields a magnitude scales}`` of the registered ops, read on every use.

    Introduced in notebook 04.
    """

    def _table(self) -> dict[str, tuple[str, ...]]:
        return {n: OP_CLASSES[n].magnitude_fields for n in op_names()
                if OP_CLASSES[n].magnitude_fields}

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return repr(self._table())


class DefaultPool(Sequence[Op]):
    """:func:`default_pool`, read on every use (ops at magnitude 10).

    Introduced in notebook 04.
    """

    def __getitem__(self, i):
        return default_pool()[i]

    def __len__(self) -> int:
        return len(default_pool())

    def __iter__(self) -> Iterator[Op]:
        return iter(default_pool())

    def __repr__(self) -> str:
        return repr(default_pool())


#: The op vocabulary, read from :data:`OP_CLASSES` whenever it is used.
OP_NAMES: OpNames = OpNames()
GEOMETRIC_OPS: OpNames = OpNames("geometric")
PHOTOMETRIC_OPS: OpNames = OpNames("photometric")
MIXING_OPS: OpNames = OpNames("mixing")
COLOR_OPS: ColorOps = ColorOps()
#: The fields of each op that a magnitude scales (the others, such as ``p``, stay).
MAGNITUDE_FIELDS: MagnitudeFields = MagnitudeFields()
#: RandAugment/TrivialAugment pool: every op class with a ``pool`` setting, at magnitude 10.
DEFAULT_POOL: DefaultPool = DefaultPool()


# ---------------------------------------------------------------------- random draws
def batch_size(images: tf.Tensor) -> Any:
    """The batch size (static Python int when known, else a scalar tensor)."""
    return images.shape[0] if images.shape[0] is not None else tf.shape(images)[0]


def image_hw(images: tf.Tensor) -> tuple[Any, Any]:
    """``(H, W)`` as Python ints when static, else scalar int tensors."""
    dyn = tf.shape(images)
    return tuple(images.shape[i] if images.shape[i] is not None else dyn[i] for i in (1, 2))


def uniform(seed: tf.Tensor, n: Any, lo: float = 0.0, hi: float = 1.0) -> tf.Tensor:
    """``(n,)`` float32 draws from ``U[lo, hi)``.

    Introduced in notebook 04.
    """
    return tf.random.stateless_uniform([n], seed, minval=lo, maxval=hi)


def coin(seed: tf.Tensor, n: Any, p: float) -> tf.Tensor:
    """``(n,)`` booleans, each True with probability ``p``.

    Introduced in notebook 04.
    """
    if p >= 1.0:
        return tf.ones([n], tf.bool)
    if p <= 0.0:
        return tf.zeros([n], tf.bool)
    return uniform(seed, n) < p


def signed_unit(seed: tf.Tensor, n: Any, strength: tf.Tensor | None) -> tf.Tensor:
    """``U[-1, 1]`` draws, or ``±strength`` with a random sign when a strength is given
    (random policies): multiply by the op's range.

    Introduced in notebook 04.
    """
    if strength is None:
        return uniform(seed, n, -1.0, 1.0)
    return tf.where(uniform(seed, n) < 0.5, -1.0, 1.0) * strength


def unit(seed: tf.Tensor, n: Any, strength: tf.Tensor | None) -> tf.Tensor:
    """``U[0, 1]`` draws, or ``strength`` itself when given.

    Introduced in notebook 04.
    """
    if strength is None:
        return uniform(seed, n)
    return tf.broadcast_to(tf.cast(strength, tf.float32), [n])


def expand(v: tf.Tensor) -> tf.Tensor:
    """A ``(B,)`` tensor reshaped to ``(B, 1, 1, 1)`` to broadcast over images."""
    return tf.reshape(v, [-1, 1, 1, 1])

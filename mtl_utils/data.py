"""Offline multi-task datasets (:func:`make_shapes`, :func:`make_multi_digits`) and their
``tf.data`` pipelines (:func:`to_dataset`). Everything is deterministic given ``seed``;
nothing downloads unless asked to.

Introduced in notebook 00.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from .policy import Policy
from .tasks import Task, task_dict, validate_labels

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "plus", "star")
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.10, 0.10),
    "orange": (1.00, 0.55, 0.00),
    "yellow": (0.95, 0.90, 0.10),
    "lime": (0.55, 0.95, 0.15),
    "green": (0.05, 0.50, 0.15),
    "cyan": (0.10, 0.85, 0.90),
    "blue": (0.10, 0.20, 0.90),
    "purple": (0.50, 0.15, 0.75),
    "magenta": (0.95, 0.20, 0.75),
    "brown": (0.50, 0.28, 0.08),
}
_PALETTE = np.array(list(COLORS.values()))
# Ops that change the colour a viewer would name. Hue, saturation and grayscale obviously;
# brightness and contrast too, because the palette has colours that differ mainly in
# lightness (green and lime, brown and orange): at RandAugment magnitude 5 each of them
# moves 5-7% of objects to another nearest palette colour, as much as saturation does
# (measured with `object_color` in notebook 00).
COLOR_INVARIANCES = frozenset({"hue", "saturation", "grayscale", "brightness", "contrast"})
# A mirrored or turned digit is another digit or none, and a turn puts the left digit above
# or below the right one.
DIGIT_INVARIANCES = frozenset({"hflip", "vflip", "quarter_turn"})

# Default split sizes: validation and test sets do not change with the training-set size,
# so results at different N_TRAIN are measured on the same kind of test set.
N_VAL = 500
N_TEST = 1000


@dataclass
class Split:
    """One split: ``images`` ``(N, H, W, C)`` float32 in [0, 1] and ``labels`` ``{task: array}``.

    ``images`` may also be a dict of inputs with an ``"image"`` entry, e.g.
    ``{"image": (N, H, W, C), "tokens": (N, L)}`` for a question about each image
    (notebook 12): every input is taken and batched alike.
    """

    images: np.ndarray | dict[str, np.ndarray]
    labels: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(np.shape(main_input(self.images))[0])

    def take(self, index: Sequence[int] | slice | np.ndarray) -> Split:
        """The examples at ``index`` (a slice, indices or boolean mask), labels kept aligned."""
        images = ({k: v[index] for k, v in self.images.items()}
                  if isinstance(self.images, Mapping) else self.images[index])
        return Split(images, {k: v[index] for k, v in self.labels.items()})

    def head(self, n: int) -> Split:
        """The first ``n`` examples."""
        if not 0 < n <= len(self):
            raise ValueError(f"head({n}): need 0 < n <= {len(self)} (the split's size).")
        return self.take(slice(0, n))


@dataclass
class MultiTaskData:
    """A multi-task dataset: its tasks and deterministic train/val/test splits.

    Introduced in notebook 00.
    """

    name: str
    tasks: dict[str, Task]
    train: Split
    val: Split
    test: Split
    info: dict = field(default_factory=dict)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of the images (of the ``"image"`` input, for a dict of inputs)."""
        return tuple(np.shape(main_input(self.train.images))[1:])  # type: ignore[return-value]

    def split(self, name: str) -> Split:
        """A split by name (``"train"``, ``"val"`` or ``"test"``)."""
        if name not in ("train", "val", "test"):
            raise KeyError(f"unknown split {name!r}; use 'train', 'val' or 'test'.")
        return getattr(self, name)

    def with_train_size(self, n: int) -> MultiTaskData:
        """The same data with only the first ``n`` training examples (nested subsets).

        ``info["train_pool"]`` records the size of the pool the subset came from (it is part
        of every experiment fingerprint: a subset differs from data generated with ``n``).

        Raises:
            ValueError: ``n`` outside ``1..len(train)``.

        Introduced in notebook 06.
        """
        if not 0 < int(n) <= len(self.train):
            raise ValueError(f"with_train_size({n}): n must be in 1..{len(self.train)} (the "
                             "training split's size); make the data with a larger n_train.")
        pool = int(self.info.get("train_pool", len(self.train)))
        return replace(self, train=self.train.head(int(n)), info={**self.info, "train_pool": pool})

    def summary(self) -> str:
        """A few lines: sizes, image shape, and every task."""
        lines = [f"{self.name}: train {len(self.train)}, val {len(self.val)}, "
                 f"test {len(self.test)}; images {self.image_shape}"]
        lines += ["  " + t.describe() for t in self.tasks.values()]
        return "\n".join(lines)


# --------------------------------------------------------------------------- helpers
def main_input(inputs: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
    """The images of a split's inputs: the array itself, or a dict's ``"image"`` entry.

    Raises:
        ValueError: a dict of inputs without an ``"image"`` entry.

    Introduced in notebook 12.
    """
    if not isinstance(inputs, Mapping):
        return inputs
    if "image" not in inputs:
        raise ValueError(f"a dict of inputs needs an 'image' entry (the one labels move with); "
                         f"got {sorted(inputs)}.")
    return inputs["image"]


def check_count(name: str, n: int, minimum: int = 1) -> int:
    """``n`` as an int, checked to be an integer of at least ``minimum`` (a size).

    Raises:
        ValueError: naming ``name``, the minimum and the value seen.

    Introduced in notebook 00.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}.")
    return int(n)




def _resize_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Bilinear resampling weights ``(n_out, n_in)`` with half-pixel centres."""
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


def _boundary_radius(shape: str, phi: np.ndarray) -> np.ndarray:
    """Distance from centre to the outline at local angle ``phi``, for a unit-size shape.

    Every shape is star-convex around its centre, with a vertex (or arm) at angle 0, so
    ``inside = rho <= r * boundary(phi)``.
    """
    if shape == "circle":
        return np.ones_like(phi)
    if shape in ("square", "triangle"):  # regular polygons (the square stands on a vertex)
        k = 4 if shape == "square" else 3
        a = np.mod(phi, 2 * np.pi / k) - np.pi / k
        return np.cos(np.pi / k) / np.cos(a)
    if shape == "plus":  # arms of half-width w along the local axes
        w = 0.34
        a = np.abs(np.mod(phi + np.pi / 4, np.pi / 2) - np.pi / 4)
        return np.where(np.tan(a) <= w, 1.0 / np.cos(a), w / np.maximum(np.sin(a), 1e-9))
    if shape == "star":  # 5 outer vertices at radius 1, inner vertices at radius ri
        ri, k = 0.45, 5
        a = np.abs(np.mod(phi + np.pi / k, 2 * np.pi / k) - np.pi / k)
        bx, by = ri * np.cos(np.pi / k), ri * np.sin(np.pi / k)
        nx, ny = by, 1.0 - bx  # normal of the edge from (1, 0) to (bx, by)
        return nx / (nx * np.cos(a) + ny * np.sin(a))
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}.")


def _smooth_upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of ``(N, h, w, C)`` to ``(N, size, size, C)``."""
    rows = _resize_matrix(size, grid.shape[1])
    cols = _resize_matrix(size, grid.shape[2])
    out = np.tensordot(rows, grid, axes=([1], [1]))  # (size, N, w, C)
    out = np.tensordot(cols, out, axes=([1], [2]))  # (size_x, size_y, N, C)
    return out.transpose(2, 1, 0, 3)


def _draw_shapes_chunk(rng: np.random.Generator, n: int, size: int, noise: float,
                       color_jitter: float, distractor: bool, shortcut: float = 0.0
                       ) -> tuple[np.ndarray, dict]:
    ss = 2 * size  # 2x supersampling
    r_lo, r_hi = size * 5 / 32, size * 10 / 32
    shape_id = rng.integers(0, len(SHAPES), n)
    color_id = rng.integers(0, len(COLORS), n)
    if shortcut:  # drawn only then: data without a shortcut is the same as ever
        tied = rng.random(n) < shortcut
        color_id = np.where(tied, 2 * shape_id + rng.integers(0, 2, n), color_id)
    radius = rng.uniform(r_lo, r_hi, n)
    cx = rng.uniform(0.6 * radius, size - 0.6 * radius)
    cy = rng.uniform(0.6 * radius, size - 0.6 * radius)
    theta = rng.uniform(0, 2 * np.pi, n)
    rgb = np.clip(_PALETTE[color_id] + rng.normal(0, color_jitter, (n, 3)), 0, 1)

    # background: a 4x4 colour grid, smoothly upsampled
    grid = rng.uniform(0, 1, (n, 4, 4, 3))
    img = _smooth_upsample(0.45 + 0.3 * (grid - 0.5), ss)

    # supersampled pixel-centre coordinates, in output-pixel units
    coords = (np.arange(ss) + 0.5) / 2
    px, py = coords[None, None, :], coords[None, :, None]

    if distractor:  # one thin line in another palette colour
        other = (color_id + rng.integers(1, len(COLORS), n)) % len(COLORS)
        p0 = rng.uniform(0, size, (n, 2))
        p1 = rng.uniform(0, size, (n, 2))
        dx, dy = (p1 - p0)[:, 0, None, None], (p1 - p0)[:, 1, None, None]
        t = ((px - p0[:, 0, None, None]) * dx + (py - p0[:, 1, None, None]) * dy)
        t = np.clip(t / np.maximum(dx * dx + dy * dy, 1e-9), 0, 1)
        dist = np.hypot(px - p0[:, 0, None, None] - t * dx, py - p0[:, 1, None, None] - t * dy)
        line = (dist <= 0.5)[..., None]
        img = np.where(line, _PALETTE[other][:, None, None, :], img)

    ux, uy = px - cx[:, None, None], py - cy[:, None, None]
    rho = np.hypot(ux, uy)
    phi = np.arctan2(uy, ux) - theta[:, None, None]
    inside = np.zeros(rho.shape, bool)
    for sid, shape in enumerate(SHAPES):
        sel = shape_id == sid
        inside[sel] = rho[sel] <= radius[sel, None, None] * _boundary_radius(shape, phi[sel])
    img = np.where(inside[..., None], rgb[:, None, None, :], img)

    # back to the output resolution: average 2x2 blocks
    img = img.reshape(n, size, 2, size, 2, 3).mean(axis=(2, 4))
    coverage = inside.reshape(n, size, 2, size, 2).mean(axis=(2, 4))
    img = np.clip(img + rng.normal(0, noise, img.shape), 0, 1).astype(np.float32)
    mask = (coverage >= 0.5).astype(np.float32)

    position, area = mask_centroids(mask[..., None])
    return img, {
        "shape": shape_id.astype(np.int32),
        "color": color_id.astype(np.int32),
        "position": position.astype(np.float32),
        "radius_px": radius,
        "mask": mask[..., None],
        "angle": np.mod(theta, 2 * np.pi).astype(np.float32)[:, None],
        "area": area,
    }


def render_objects(rng: np.random.Generator, shape_ids: np.ndarray, color_ids: np.ndarray,
                   centres: np.ndarray, radii: np.ndarray, thetas: np.ndarray,
                   image_size: int = 32, noise: float = 0.02, color_jitter: float = 0.05
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Several objects per image, drawn as :func:`make_shapes` draws one: a smooth noisy
    background, each object a palette colour with jitter, 2x supersampled, later objects
    over earlier ones.

    Args:
        rng: the generator of the background, colour jitter and pixel noise.
        shape_ids, color_ids: ``(N, K)`` indices into :data:`SHAPES` and :data:`COLORS`;
            a negative shape id leaves that slot empty.
        centres: ``(N, K, 2)`` object centres ``(x, y)`` in pixels.
        radii, thetas: ``(N, K)`` circumradii in pixels and rotations in radians.

    Returns:
        ``(images (N, H, W, 3) float32, masks (N, K, H, W) float32)``: each object's mask
        (pixels at least half covered by it and not hidden by a later object).

    Raises:
        ValueError: arrays whose shapes do not agree.

    Introduced in notebook 12.
    """
    shape_ids, color_ids = np.asarray(shape_ids), np.asarray(color_ids)
    n, k = shape_ids.shape
    if (color_ids.shape != (n, k) or np.shape(centres) != (n, k, 2)
            or np.shape(radii) != (n, k) or np.shape(thetas) != (n, k)):
        raise ValueError(f"render_objects needs shape_ids, color_ids, radii, thetas of shape "
                         f"(N, K) and centres (N, K, 2); got {shape_ids.shape}, "
                         f"{color_ids.shape}, {np.shape(radii)}, {np.shape(thetas)}, "
                         f"{np.shape(centres)}.")
    size = check_count("image_size", image_size, 16)
    if n > 128:  # in chunks: small arrays stay in cache (the same draws, in order)
        parts = [render_objects(rng, shape_ids[i:i + 128], color_ids[i:i + 128],
                                centres[i:i + 128], radii[i:i + 128], thetas[i:i + 128],
                                size, noise, color_jitter) for i in range(0, n, 128)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    ss = 2 * size
    grid = rng.uniform(0, 1, (n, 4, 4, 3))
    img = _smooth_upsample(0.45 + 0.3 * (grid - 0.5), ss)
    owner = np.full((n, ss, ss), -1)
    # each object is drawn in a window around it (supersampled pixels), not the whole frame
    win = min(ss, int(np.ceil(2 * (2 * float(np.max(radii, initial=1.0)) + 2))))
    rows = np.arange(n)[:, None, None]
    for j in range(k):
        start = np.clip(np.floor(2 * (centres[:, j] - radii[:, j, None]) - 1).astype(int),
                        0, ss - win)  # (n, 2): x0, y0
        xs = start[:, 0, None] + np.arange(win)  # (n, win) supersampled columns
        ys = start[:, 1, None] + np.arange(win)
        ux = ((xs + 0.5) / 2 - centres[:, j, 0, None])[:, None, :]
        uy = ((ys + 0.5) / 2 - centres[:, j, 1, None])[:, :, None]
        rho = np.hypot(ux, uy)
        phi = np.arctan2(uy, ux) - thetas[:, j, None, None]
        inside = np.zeros(rho.shape, bool)
        for sid, shape in enumerate(SHAPES):
            sel = shape_ids[:, j] == sid
            if sel.any():
                inside[sel] = rho[sel] <= radii[sel, j, None, None] * _boundary_radius(
                    shape, phi[sel])
        rgb = np.clip(_PALETTE[np.maximum(color_ids[:, j], 0)]
                      + rng.normal(0, color_jitter, (n, 3)), 0, 1)
        at = (rows, ys[:, :, None], xs[:, None, :])
        img[at] = np.where(inside[..., None], rgb[:, None, None, :], img[at])
        owner[at] = np.where(inside, j, owner[at])
    img = img.reshape(n, size, 2, size, 2, 3).mean(axis=(2, 4))
    img = np.clip(img + rng.normal(0, noise, img.shape), 0, 1).astype(np.float32)
    cover = np.stack([(owner == j).reshape(n, size, 2, size, 2).mean(axis=(2, 4))
                      for j in range(k)], axis=1)
    return img, (cover >= 0.5).astype(np.float32)


def mask_centroids(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroids ``(N, 2)`` (the ``position`` label; ``(0, 0)`` if empty) and areas ``(N,)``
    of masks ``(N, H, W, 1)``.

    Introduced in notebook 00.
    """
    m = np.asarray(masks, np.float64)[..., 0]
    h, w = m.shape[1:]
    area = m.sum(axis=(1, 2))
    safe = np.maximum(area, 1)
    cx = (m * ((np.arange(w) + 0.5) / w)).sum(axis=(1, 2)) / safe
    cy = (m * ((np.arange(h) + 0.5) / h)[:, None]).sum(axis=(1, 2)) / safe
    return np.stack([cx, cy], axis=1), area


def object_color(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The index into :data:`COLORS` of the palette colour nearest to each object's mean
    pixel under its mask: the colour a viewer would name, re-derived from ``(N, H, W, 3)``
    images (it agrees with the clean ``color`` label for about 98% of objects).

    Raises:
        ValueError: images that are not RGB, or masks of another shape.

    Introduced in notebook 00.
    """
    images, masks = np.asarray(images, np.float64), np.asarray(masks, np.float64)
    if images.ndim != 4 or images.shape[-1] != 3 or masks.shape != (*images.shape[:3], 1):
        raise ValueError(f"object_color needs RGB images (N, H, W, 3) and masks (N, H, W, 1); "
                         f"got {images.shape} and {masks.shape}.")
    area = np.maximum(masks.sum(axis=(1, 2)), 1.0)
    mean = (images * masks).sum(axis=(1, 2)) / area
    return np.argmin(((mean[:, None, :] - _PALETTE[None]) ** 2).sum(-1), axis=1).astype(np.int32)


def shapes_tasks(image_size: int = 32, with_angle: bool = False) -> dict[str, Task]:
    """The tasks of :func:`make_shapes` for a given image size.

    ``size`` is the circumradius normalised over ``(3/32, 12/32) * image_size`` (wider than
    the drawn 5-10 px so a zoom keeps it in range); its error metric reads in pixels.

    Introduced in notebook 00.
    """
    lo, hi = image_size * 3 / 32, image_size * 12 / 32
    tasks = [
        Task("shape", "class", num_classes=len(SHAPES), class_names=SHAPES),
        Task("color", "class", num_classes=len(COLORS), class_names=tuple(COLORS),
             not_invariant_to=COLOR_INVARIANCES),
        Task("position", "position", metric_scale=float(image_size), unit="px"),
        Task("size", "scalar", scale_equivariant=True, value_range=(lo, hi),
             metric_scale=hi - lo, unit="px"),
        Task("mask", "mask"),
    ]
    if with_angle:
        tasks.append(Task("angle", "angle", unit="deg"))
    return task_dict(tasks)


def make_shapes(n: int = 2000, image_size: int = 32, seed: int = 0, *, n_val: int = N_VAL,
                n_test: int = N_TEST, with_angle: bool = False, noise: float = 0.02,
                color_jitter: float = 0.10, distractor: bool = True,
                shortcut: float = 0.0, shortcut_splits: Sequence[str] = ("train", "val")
                ) -> MultiTaskData:
    """Procedural shapes: one object on a smooth, noisy background, with five labels.

    One of five shapes in one of ten jittered palette colours, at a random rotation, radius
    5-10 px (at 32x32) and position, over a smooth background with pixel noise and a thin
    distractor line in another colour; drawn with 2x supersampling. Labels (tasks from
    :func:`shapes_tasks`): ``shape``, ``color``, ``position`` (the mask's centroid),
    ``size``, ``mask`` (pixels at least half covered) and, with ``with_angle=True``,
    ``angle`` (of the first vertex: ambiguous for symmetric shapes, there to show labels
    that turn).

    Args:
        n: training-set size.
        image_size: height and width in pixels (at least 16).
        seed: the same seed gives the same data; each split draws from its own stream.
        n_val, n_test: validation and test sizes (fixed by default, independent of ``n``).
        noise: standard deviation of the Gaussian pixel noise (pixels in [0, 1]).
        color_jitter: standard deviation of the Gaussian jitter of each object's RGB colour.
        distractor: draw the thin distractor line.
        shortcut: the probability that an example's colour is tied to its shape (one of
            the two palette colours ``2 * shape`` and ``2 * shape + 1``, so
            ``color // 2 == shape``) in the ``shortcut_splits``; the test split is never
            tied. At 0.9 about 92% of training examples follow the rule (untied ones match
            by chance 1 time in 5): a model may learn "colour means shape", which a tied
            validation split rewards and the test split does not. ``0`` (default): colour
            and shape are independent everywhere.
        shortcut_splits: the splits with the shortcut: ``("train", "val")`` (default: a
            validation split that looks like training) or ``("train",)`` (validation drawn
            like test, e.g. to select a policy on data without the shortcut).

    Raises:
        ValueError: non-positive sizes, an image size below 16, ``shortcut`` outside
            ``[0, 1]``, or ``shortcut_splits`` other than train and val.

    Introduced in notebook 00.
    """
    n = check_count("n", n)
    n_val, n_test = check_count("n_val", n_val), check_count("n_test", n_test)
    image_size = check_count("image_size", image_size, 16)
    if isinstance(shortcut, bool) or not isinstance(shortcut, (int, float)) or not (
            0.0 <= shortcut <= 1.0):
        raise ValueError(f"shortcut must be a probability in [0, 1] (0: no shortcut), got "
                         f"{shortcut!r}; e.g. make_shapes(1000, shortcut=0.9).")
    shortcut_splits = tuple(shortcut_splits)
    if isinstance(shortcut_splits, str) or not set(shortcut_splits) <= {"train", "val"}:
        raise ValueError(f"shortcut_splits must name 'train' and/or 'val' (the test split is "
                         f"never tied), got {shortcut_splits!r}.")
    tasks = shapes_tasks(image_size, with_angle)
    lo, hi = tasks["size"].value_range
    splits = {}
    for k, (name, count) in enumerate((("train", n), ("val", n_val), ("test", n_test))):
        rng = np.random.default_rng([int(seed), k])
        tie = float(shortcut) if name in shortcut_splits else 0.0
        chunks = [_draw_shapes_chunk(rng, min(256, count - i), image_size, noise,
                                     color_jitter, distractor, tie)
                  for i in range(0, count, 256)]
        images = np.concatenate([c[0] for c in chunks])
        raw = {key: np.concatenate([c[1][key] for c in chunks]) for key in chunks[0][1]}
        raw["size"] = ((raw["radius_px"] - lo) / (hi - lo)).astype(np.float32)[:, None]
        splits[name] = Split(images, {t: raw[t] for t in tasks})
    info = {"seed": seed, "image_size": image_size, "shapes": SHAPES, "colors": tuple(COLORS)}
    if shortcut:
        info["shortcut"] = float(shortcut)
        if shortcut_splits != ("train", "val"):
            info["shortcut_splits"] = shortcut_splits
    return MultiTaskData("shapes", tasks, **splits, info=info)


def label_crosstab(data: MultiTaskData, row: str, col: str, split: str = "train"
                   ) -> pd.DataFrame:
    """Of a split's examples with each ``row`` class, the % with each ``col`` class (rows
    sum to 100), named by the tasks' class names: how one label predicts another.

    Raises:
        ValueError: a task that is not a class task of ``data``.

    Introduced in notebook 00.
    """
    for t in (row, col):
        if t not in data.tasks or data.tasks[t].kind != "class":
            raise ValueError(f"label_crosstab needs class tasks of {data.name!r}; {t!r} is "
                             f"not one (class tasks: "
                             f"{[n for n, k in data.tasks.items() if k.kind == 'class']}).")
    labels = data.split(split).labels
    names = {t: list(data.tasks[t].class_names or range(data.tasks[t].num_classes))
             for t in (row, col)}
    table = pd.crosstab(pd.Categorical.from_codes(labels[row], names[row]),
                        pd.Categorical.from_codes(labels[col], names[col]),
                        normalize="index", dropna=False) * 100
    return table.rename_axis(index=row, columns=col)


def shortcut_share(data: MultiTaskData) -> dict[str, float]:
    """Per split, the % of shapes examples whose colour follows the shortcut rule of
    :func:`make_shapes` (``color // 2 == shape``): about 20% by chance, more where
    ``shortcut`` tied them.

    Introduced in notebook 00.
    """
    return {name: 100.0 * float(np.mean(data.split(name).labels["color"] // 2
                                        == data.split(name).labels["shape"]))
            for name in ("train", "val", "test")}


# ---------------------------------------------------------------------------- digits
def _load_digit_source(source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train_pool_images, train_pool_labels, test_pool_images, test_pool_labels) in [0, 1]."""
    if source == "sklearn":
        from sklearn.datasets import load_digits  # only here: the offline digits source

        d = load_digits()
        x = (d.images / 16.0).astype(np.float32)
        y = d.target.astype(np.int32)
        order = np.random.default_rng(12345).permutation(len(x))  # fixed, seed-independent
        cut = int(round(len(x) * 2 / 3))
        tr, te = order[:cut], order[cut:]
        return x[tr], y[tr], x[te], y[te]
    if source == "mnist":
        try:
            (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data()
        except Exception as err:  # noqa: BLE001 - any download failure means the same thing
            raise RuntimeError(
                f"make_multi_digits(source='mnist') could not load MNIST ({type(err).__name__}: "
                f"{err}). It is downloaded by Keras on first use and this machine seems to be "
                "offline. Use source='sklearn' (the default, bundled with scikit-learn), or "
                "place mnist.npz in ~/.keras/datasets/.") from err
        return ((xtr / 255.0).astype(np.float32), ytr.astype(np.int32),
                (xte / 255.0).astype(np.float32), yte.astype(np.int32))
    raise ValueError(f"unknown digit source {source!r}; use 'sklearn' (offline) or 'mnist'.")


def digits_tasks() -> dict[str, Task]:
    """The tasks of :func:`make_multi_digits`: ``left`` and ``right`` digit classes.

    Flips mirror the digits and swap their places, so both tasks are not invariant to them;
    which digit is which depends on where it is, so their heads use ``head_pool="flatten"``.

    Introduced in notebook 00.
    """
    names = tuple(str(i) for i in range(10))
    return task_dict([Task(t, "class", num_classes=10, class_names=names, head_pool="flatten",
                           not_invariant_to=DIGIT_INVARIANCES) for t in ("left", "right")])


def _compose_digits(rng, pool_x, pool_y, n: int, size: int):
    d = int(round(0.8 * size))
    off = size - d
    i_left = rng.integers(0, len(pool_x), n)
    i_right = rng.integers(0, len(pool_x), n)
    canvas = np.zeros((n, 2, size, size), np.float32)
    canvas[:, 0, :d, :d] = _smooth_upsample(pool_x[i_left, ..., None], d)[..., 0]
    canvas[:, 1, off:off + d, off:off + d] = _smooth_upsample(pool_x[i_right, ..., None], d)[..., 0]
    images = np.clip(canvas.max(axis=1), 0, 1)[..., None].astype(np.float32)
    return images, {"left": pool_y[i_left], "right": pool_y[i_right]}


def make_multi_digits(n: int = 1000, source: str = "sklearn", seed: int = 0, *,
                      image_size: int = 20, n_val: int = N_VAL,
                      n_test: int = N_TEST) -> MultiTaskData:
    """MultiMNIST-style images: two real handwritten digits overlapping on one canvas.

    The ``left`` digit at the top-left, the ``right`` one at the bottom-right, each upsampled
    to 80% of the canvas (``image_size`` at least 10) and merged by pixel-wise max. Test
    images use digits from a disjoint pool (a third of the source), never seen in training.

    Args:
        source: ``"sklearn"`` (the 1,797 8x8 digits bundled with scikit-learn, offline) or
            ``"mnist"`` (Keras download, cached in ``~/.keras/datasets``).

    Raises:
        ValueError: unknown source or bad sizes.
        RuntimeError: ``source="mnist"`` when MNIST cannot be downloaded (offline).

    Introduced in notebook 00.
    """
    n = check_count("n", n)
    n_val, n_test = check_count("n_val", n_val), check_count("n_test", n_test)
    image_size = check_count("image_size", image_size, 10)
    xtr, ytr, xte, yte = _load_digit_source(source)
    splits = {}
    for k, (name, count, px, py) in enumerate((("train", n, xtr, ytr), ("val", n_val, xtr, ytr),
                                               ("test", n_test, xte, yte))):
        rng = np.random.default_rng([int(seed), k])
        splits[name] = Split(*_compose_digits(rng, px, py, count, image_size))
    return MultiTaskData("digits", digits_tasks(), **splits, info={
        "seed": seed, "image_size": image_size, "source": source,
        "pool_sizes": (len(xtr), len(xte))})


def load_dataset(name: str, n: int, seed: int = 0, image_size: int | None = None,
                 **kwargs) -> MultiTaskData:
    """``make_shapes`` or ``make_multi_digits`` by name (``"shapes"`` or ``"digits"``).

    ``image_size=None`` uses the dataset's default (32 for shapes, 20 for digits).

    Raises:
        ValueError: an unknown dataset name.

    Introduced in notebook 01.
    """
    makers: dict[str, Callable[..., MultiTaskData]] = {"shapes": make_shapes,
                                                      "digits": make_multi_digits}
    if name not in makers:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(makers)}.")
    if image_size is not None:
        kwargs["image_size"] = image_size
    return makers[name](n, seed=seed, **kwargs)


# ---------------------------------------------------------------------------- tf.data
def to_dataset(split: Split | tuple[np.ndarray, Mapping[str, np.ndarray]],
               tasks: Iterable[Task] | Mapping[str, Task] | None = None,
               batch_size: int = 64, shuffle: bool = True, seed: int = 0,
               augment: Callable | None = None,
               per_task_inputs: bool | Sequence[str] = False, cache: bool | None = None,
               prefetch: bool = True, drop_remainder: bool = False, autotune: bool = False,
               repeat: bool = False):
    """A ``tf.data.Dataset`` of ``(image, {task: label})`` batches.

    The pipeline is ``range(n) -> shuffle -> batch -> map(gather, augment) -> prefetch``:
    the example *indices* are shuffled and batched (the order shuffling the examples
    themselves would give), and one map call gathers a batch from the in-memory arrays and
    augments it, where batching examples would copy them one by one (1.1x to 1.4x the
    throughput: notebook 04, ``benchmarks/text_eda_throughput.py``). Each batch's
    augmentation seed comes from ``tf.data.Dataset.random``, so the same ``seed`` gives the
    same batches and every epoch new ones.

    Args:
        split: a :class:`Split` or ``(images, labels)``.
        tasks: the tasks whose labels to yield; ``None``: the policy's tasks if ``augment``
            is a :class:`~mtl_utils.policy.Policy`, else every label.
        shuffle: reshuffle every epoch (seeded); ``False`` to evaluate or predict.
        augment: a policy (:mod:`mtl_utils.augment`, :mod:`mtl_utils.text`) or any callable,
            called as ``augment(images, labels, seed)`` on each batch. Tasks a policy ``emits``
            (auxiliary tasks) need no labels in ``split``.
        per_task_inputs: ``True`` (or task names) to feed models built with
            ``per_task_inputs=True``: the image is repeated as ``{task: image}`` unless the
            policy already returns one view per task.
        autotune: let ``tf.data``'s autotuner run. Off by default: on a 2-core CPU it took a
            core from training in about half of all epochs (1.25x slower on average).
        repeat: repeat forever, for ``model.fit(ds, steps_per_epoch=...)``: each repetition
            gives a new epoch's batches, without the ~80 ms per epoch tf.data spends
            restarting the pipeline for a new iterator (notebook 04).
        cache: deprecated, no effect: the arrays are in memory and gathered by index, so
            there is nothing to cache (a ``DeprecationWarning`` says so).

    Raises:
        ValueError: a bad batch size, wrong image rank, or labels that do not match tasks.

    Introduced in notebook 00; augmentation in notebook 04.
    """
    if cache is not None:
        warnings.warn("to_dataset(cache=...) has no effect: the arrays are in memory and each "
                      "batch is gathered by index; drop the argument.", DeprecationWarning,
                      stacklevel=2)
    images, labels = (split.images, split.labels) if isinstance(split, Split) else split
    if isinstance(images, Mapping):  # several inputs: checked as the image, batched alike
        return _dataset_of_inputs(images, labels, tasks, batch_size, shuffle, seed, augment,
                                  prefetch, drop_remainder, autotune, repeat, per_task_inputs)
    batch_size = check_count("batch_size", batch_size)
    policy = augment if isinstance(augment, Policy) else None  # a plain callable declares nothing
    if tasks is None and policy is not None:
        tasks = policy.tasks
    emitted = set(policy.emits if policy is not None else ())  # labels the policy writes itself
    if tasks is None:
        labels = dict(labels)
    else:
        tasks = {n: t for n, t in task_dict(tasks).items() if n not in emitted}
        validate_labels(tasks, images, labels)
        labels = {t: labels[t] for t in tasks}
    if np.ndim(images) not in (2, 4):
        raise ValueError(f"inputs must be images (N, H, W, C) or token ids (N, L), got shape "
                         f"{np.shape(images)}.")
    names = list(labels) if per_task_inputs is True else list(per_task_inputs or [])
    unknown = [n for n in names if n not in labels]
    if unknown:
        raise ValueError(f"per_task_inputs names unknown task(s) {unknown}; tasks: {list(labels)}.")
    images = np.asarray(images)  # token ids stay integers, images become float32
    if not np.issubdtype(images.dtype, np.integer):
        images = images.astype(np.float32)
    ds = _batches((images, labels), len(images), batch_size, shuffle, seed, augment,
                  drop_remainder, repeat)
    if names:
        def replicate(x, *rest):
            if not isinstance(x, dict):
                x = {n: x for n in names}
            return (x, *rest)

        ds = ds.map(replicate)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.autotune.enabled = bool(autotune)
    return ds.with_options(options)


def _dataset_of_inputs(inputs, labels, tasks, batch_size, shuffle, seed, augment, prefetch,
                       drop_remainder, autotune, repeat, per_task_inputs):
    """:func:`to_dataset` for a dict of inputs (an ``"image"`` and e.g. its ``"tokens"``)."""
    if per_task_inputs:
        raise ValueError("per_task_inputs is for one image input; a dict of inputs is fed "
                         "to a model with one input per entry (models.build_image_text_model).")
    images = main_input(inputs)
    n = len(images)
    wrong = {k: np.shape(v) for k, v in inputs.items() if len(v) != n}
    if wrong:
        raise ValueError(f"every input needs one row per image ({n}); got shapes {wrong}.")
    batch_size = check_count("batch_size", batch_size)
    policy = augment if isinstance(augment, Policy) else None
    if tasks is None and policy is not None:
        tasks = policy.tasks
    if tasks is None:
        labels = dict(labels)
    else:
        tasks = task_dict(tasks)
        validate_labels(tasks, images, labels)
        labels = {t: labels[t] for t in tasks}
    arrays = {k: np.asarray(v) if np.issubdtype(np.asarray(v).dtype, np.integer)
              else np.asarray(v, np.float32) for k, v in inputs.items()}
    ds = _batches((arrays, labels), n, batch_size, shuffle, seed, augment, drop_remainder,
                  repeat)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.autotune.enabled = bool(autotune)
    return ds.with_options(options)


def _batches(arrays, n: int, batch_size: int, shuffle: bool, seed: int, augment,
             drop_remainder: bool, repeat: bool):
    """``range(n) -> shuffle -> batch -> map(gather, augment) -> repeat`` over the nested
    ``arrays`` (:func:`to_dataset`'s pipeline): indices shuffled and batched as the examples
    would be, each batch gathered in one op and augmented in the same map call, its seed
    from ``tf.data.Dataset.random``."""
    short = {k: len(v) for k, v in arrays[1].items() if len(v) != n}
    if short:
        raise ValueError(f"every label needs one row per example ({n}); got {short} rows. "
                         "Pass labels of the same length as the images.")
    tensors = tf.nest.map_structure(tf.convert_to_tensor, arrays)

    def gather(index):
        return tf.nest.map_structure(lambda a: tf.gather(a, index), tensors)

    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment is None:
        ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(
            lambda index, s: augment(*gather(index), s),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.repeat() if repeat else ds

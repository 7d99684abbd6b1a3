"""Scenes with exact dense labels: a vectorized NumPy ray-caster and its re-render oracle.

Each scene is a floor, a wall (with sky above it), one to three spheres and up to two boxes
turned about the vertical, lit by a distant light with cast shadows, seen by a pinhole
camera whose intrinsics are stored (square pixels, principal point at the image centre in
pixel-index coordinates, ``x = column``, ``y = row``). Every pixel's ray gives the image and,
exactly, its labels:

- ``segmentation``: one of :data:`SCENE_CLASSES` (sky, floor, wall, sphere, box);
- ``depth``: metres along the optical axis (z), ``0`` where the ray meets no surface (sky);
- ``normals``: unit surface normals in the camera frame, opencv convention (x right, y down,
  z forward into the scene; each faces its ray, ``n . ray < 0``), ``0`` on the sky.

Because the scene is known, any view of it can be *re-rendered*: :func:`view_cameras` gives
the cameras that see a flipped, rotated, zoomed or cropped image (a camera rolled or
mirrored about its optical axis, with a new focal length and principal point), and
:func:`render` draws them. That is the oracle the dense label kinds are tested against
(``tests/test_scenes_oracle.py``).

Introduced in notebook 11.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .data import MultiTaskData, Split, check_count
from .dense import NORMAL_CONVENTIONS, ZOOM_READINGS
from .tasks import Task, task_dict

SCENE_CLASSES: tuple[str, ...] = ("sky", "floor", "wall", "sphere", "box")
MAX_SPHERES = 3
MAX_BOXES = 2
FOCAL_FRACTION = 0.9  # focal length in pixels = 0.9 * image width: a 58-degree field of view
N_VAL = 100
N_TEST = 200
_INF = np.float32(np.inf)
# surface ids per pixel: -1 sky, 0 floor, 1 wall, 2.. spheres, then boxes
_FLOOR, _WALL, _SPHERE0 = 0, 1, 2
_BOX0 = _SPHERE0 + MAX_SPHERES


# ------------------------------------------------------------------------ geometry
@dataclass(frozen=True)
class Cameras:
    """One pinhole camera per scene.

    Attributes:
        intrinsics: ``(N, 3, 3)`` ``K`` mapping camera-frame directions to pixel-index
            coordinates (``u = fx x / z + cx``, ``v = fy y / z + cy``).
        rotation: ``(N, 3, 3)`` orthogonal world-to-camera rotation (a reflection for a
            mirrored view); the camera frame is x right, y down, z forward.
        centre: ``(N, 3)`` camera centres in the world (metres; world y points up).
        height, width: the image size.

    Introduced in notebook 11.
    """

    intrinsics: np.ndarray
    rotation: np.ndarray
    centre: np.ndarray
    height: int
    width: int

    def __len__(self) -> int:
        return len(self.intrinsics)

    def take(self, index: Any) -> Cameras:
        """The cameras at ``index``."""
        return replace(self, intrinsics=self.intrinsics[index], rotation=self.rotation[index],
                       centre=self.centre[index])


@dataclass(frozen=True)
class Scenes:
    """The content of ``N`` scenes, as arrays (metres, world y up, the floor at ``y = 0``).

    Attributes:
        wall_z, wall_height: the wall plane ``z = wall_z`` and its top edge.
        light: ``(N, 3)`` unit direction towards the light.
        floor_colors: ``(N, 2, 3)`` the floor's two checker colours; ``wall_color`` ``(N, 3)``.
        sphere_centre, sphere_radius, sphere_color, sphere_present: ``(N, S, ...)`` spheres.
        box_centre, box_half, box_yaw, box_color, box_present: ``(N, B, ...)`` boxes turned
            by ``box_yaw`` radians about the vertical.

    Introduced in notebook 11.
    """

    wall_z: np.ndarray
    wall_height: np.ndarray
    light: np.ndarray
    floor_colors: np.ndarray
    wall_color: np.ndarray
    sphere_centre: np.ndarray
    sphere_radius: np.ndarray
    sphere_color: np.ndarray
    sphere_present: np.ndarray
    box_centre: np.ndarray
    box_half: np.ndarray
    box_yaw: np.ndarray
    box_color: np.ndarray
    box_present: np.ndarray

    def __len__(self) -> int:
        return len(self.wall_z)

    def take(self, index: Any) -> Scenes:
        """The scenes at ``index``."""
        return Scenes(**{f.name: getattr(self, f.name)[index]
                         for f in dataclasses.fields(self)})


def intrinsics(image_size: int, n: int = 1) -> np.ndarray:
    """``(n, 3, 3)`` intrinsics of the course's camera for square images of ``image_size``:
    focal length ``0.9 * image_size`` pixels, principal point at the image centre
    ``((W - 1) / 2, (H - 1) / 2)``.

    Introduced in notebook 11.
    """
    f = FOCAL_FRACTION * image_size
    c = (image_size - 1) / 2.0
    return np.tile(np.array([[f, 0, c], [0, f, c], [0, 0, 1]], np.float64), (n, 1, 1))


def _camera_rotation(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """World-to-camera rotations of cameras turned by ``yaw`` (right) and ``pitch`` (down)."""
    n = len(yaw)
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.zeros((n, 3, 3))
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 1, 1], ry[:, 2, 0], ry[:, 2, 2] = cy, sy, 1, -sy, cy
    rx = np.zeros((n, 3, 3))
    rx[:, 0, 0], rx[:, 1, 1], rx[:, 1, 2], rx[:, 2, 1], rx[:, 2, 2] = 1, cp, -sp, sp, cp
    axes = np.diag([1.0, -1.0, 1.0])  # camera x, y, z as world x, -y, z before turning
    camera_to_world = ry @ rx @ axes
    return np.transpose(camera_to_world, (0, 2, 1))


def _place(rng: np.random.Generator, n: int, yaw: np.ndarray, near: float,
           far: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Floor positions ``(x, z)`` in front of cameras at the origin turned by ``yaw``."""
    dist = near + rng.uniform(0, 1, n) * (far - near)
    side = rng.uniform(-0.42, 0.42, n)  # within about 0.8 of the half field of view
    return dist * np.sin(yaw + side), dist * np.cos(yaw + side)


def draw_scenes(n: int, image_size: int, rng: np.random.Generator) -> tuple[Scenes, Cameras]:
    """``n`` random scenes and the cameras that see them.

    Camera 1.1-1.6 m above the floor, pitched 8-20 degrees down and turned up to 20
    degrees; a wall 5.5-8 m ahead, 2.2-3.2 m high; 1-3 spheres (radius 0.25-0.7 m) and 0-2
    boxes (half sizes 0.2-0.55 m) on the floor 2.2 m or more from the camera; a light above
    and behind the camera.

    Raises:
        ValueError: ``n < 1`` or an image size below 8.

    Introduced in notebook 11.
    """
    n = check_count("n", n)
    image_size = check_count("image_size", image_size, 8)
    height = rng.uniform(1.1, 1.6, n)
    pitch = np.radians(rng.uniform(8, 20, n))
    yaw = np.radians(rng.uniform(-20, 20, n))
    wall_z = rng.uniform(5.5, 8.0, n)
    wall_height = rng.uniform(2.2, 3.2, n)
    az, el = np.radians(rng.uniform(-60, 60, n)), np.radians(rng.uniform(35, 70, n))
    light = np.stack([np.cos(el) * np.sin(az), np.sin(el), -np.cos(el) * np.cos(az)], -1)
    base = rng.uniform(0.35, 0.8, (n, 3))
    floor_colors = np.stack([base, base * rng.uniform(0.45, 0.7, (n, 1))], axis=1)
    wall_color = rng.uniform(0.55, 0.95, (n, 3))

    s_radius = rng.uniform(0.25, 0.7, (n, MAX_SPHERES))
    s_present = np.arange(MAX_SPHERES)[None] < rng.integers(1, MAX_SPHERES + 1, n)[:, None]
    s_centre = np.zeros((n, MAX_SPHERES, 3))
    for k in range(MAX_SPHERES):
        x, z = _place(rng, n, yaw, 2.2, wall_z - 0.3 - s_radius[:, k])
        s_centre[:, k] = np.stack([x, s_radius[:, k], z], -1)
    s_color = _saturated(rng, (n, MAX_SPHERES))

    b_half = np.stack([rng.uniform(0.2, hi, (n, MAX_BOXES)) for hi in (0.5, 0.55, 0.5)], -1)
    b_present = np.arange(MAX_BOXES)[None] < rng.integers(0, MAX_BOXES + 1, n)[:, None]
    b_yaw = rng.uniform(0, np.pi / 2, (n, MAX_BOXES))
    b_centre = np.zeros((n, MAX_BOXES, 3))
    for k in range(MAX_BOXES):
        reach = np.sqrt(b_half[:, k, 0] ** 2 + b_half[:, k, 2] ** 2)
        x, z = _place(rng, n, yaw, 2.2 + reach, wall_z - 0.3 - reach)
        b_centre[:, k] = np.stack([x, b_half[:, k, 1], z], -1)
    b_color = _saturated(rng, (n, MAX_BOXES))

    scenes = Scenes(wall_z, wall_height, light, floor_colors, wall_color, s_centre, s_radius,
                    s_color, s_present, b_centre, b_half, b_yaw, b_color, b_present)
    cameras = Cameras(intrinsics(image_size, n), _camera_rotation(yaw, pitch),
                      np.stack([np.zeros(n), height, np.zeros(n)], -1), image_size, image_size)
    return scenes, cameras


def _saturated(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Bright, saturated random colours ``(*shape, 3)``."""
    hue = rng.uniform(0, 1, shape)[..., None]
    rgb = np.clip(np.abs((hue * 6 + np.array([0.0, 4.0, 2.0])) % 6 - 3) - 1, 0, 1)
    return 0.25 + 0.7 * rgb * rng.uniform(0.7, 1.0, (*shape, 1))


# ----------------------------------------------------------------------- the caster
# Vectors are tuples of three (n, P) float32 arrays (x, y, z): reductions over a last axis
# of length 3 are slow in NumPy, element-wise arithmetic on whole planes is fast.
def _col(a: np.ndarray) -> np.ndarray:
    """Per-scene values ``(n,)`` as a float32 column ``(n, 1)``."""
    return np.asarray(a, np.float32)[:, None]


def _dot(a, b) -> np.ndarray:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _sphere_hits(origin, dirs, scenes: Scenes, k: int) -> np.ndarray:
    """Ray parameters ``(n, P)`` of the nearest hit of sphere ``k`` (inf where missed)."""
    c = [_col(scenes.sphere_centre[:, k, i]) for i in range(3)]
    oc = (origin[0] - c[0], origin[1] - c[1], origin[2] - c[2])
    a = _dot(dirs, dirs)
    b = _dot(dirs, oc)
    disc = b * b - a * (_dot(oc, oc) - _col(scenes.sphere_radius[:, k]) ** 2)
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / a
    hit = (disc >= 0) & (t > 1e-4) & scenes.sphere_present[:, k][:, None]
    return np.where(hit, t, _INF)


def _box_hits(origin, dirs, scenes: Scenes, k: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Ray parameters ``(n, P)`` of box ``k`` (inf where missed), the axis of the face hit
    (0, 1, 2 in the box's frame) and the ray directions in that frame (slab method)."""
    cos, sin = _col(np.cos(scenes.box_yaw[:, k])), _col(np.sin(scenes.box_yaw[:, k]))
    rx = origin[0] - _col(scenes.box_centre[:, k, 0])
    ry = origin[1] - _col(scenes.box_centre[:, k, 1])
    rz = origin[2] - _col(scenes.box_centre[:, k, 2])
    o = (cos * rx - sin * rz, ry, sin * rx + cos * rz)  # R^T (p - centre), R the yaw turn
    d = (cos * dirs[0] - sin * dirs[2], dirs[1], sin * dirs[0] + cos * dirs[2])
    t_near = t_far = None
    axis = None
    for i in range(3):
        h = _col(scenes.box_half[:, k, i])
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.float32(1.0) / d[i]
            t1, t2 = (-h - o[i]) * inv, (h - o[i]) * inv
        lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
        lo = np.where(np.isnan(lo), -_INF, lo)  # a ray parallel to the slab, on its plane
        hi = np.where(np.isnan(hi), _INF, hi)
        if t_near is None:
            t_near, t_far, axis = lo, hi, np.zeros(lo.shape, np.int8)
        else:
            axis = np.where(lo > t_near, np.int8(i), axis)
            t_near, t_far = np.maximum(t_near, lo), np.minimum(t_far, hi)
    hit = (t_far >= t_near) & (t_near > 1e-4) & scenes.box_present[:, k][:, None]
    return np.where(hit, t_near, _INF), axis, d


def _render_chunk(scenes: Scenes, cameras: Cameras) -> dict[str, np.ndarray]:
    n, h, w = len(scenes), cameras.height, cameras.width
    f32 = np.float32
    v, u = np.mgrid[0:h, 0:w]
    u, v = u.ravel().astype(f32)[None], v.ravel().astype(f32)[None]
    kinv = np.linalg.inv(cameras.intrinsics)
    # camera-frame ray directions with z = 1 (so a hit's ray parameter is its depth)
    ray = [_col(kinv[:, i, 0]) * u + _col(kinv[:, i, 1]) * v + _col(kinv[:, i, 2])
           for i in range(2)]
    rot = cameras.rotation  # world to camera; its transpose turns rays into the world
    dirs = tuple(_col(rot[:, 0, i]) * ray[0] + _col(rot[:, 1, i]) * ray[1] + _col(rot[:, 2, i])
                 for i in range(3))
    origin = tuple(_col(cameras.centre[:, i]) for i in range(3))

    cands = np.full((n, _BOX0 + MAX_BOXES, h * w), _INF, f32)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -origin[1] / dirs[1]
        cands[:, _FLOOR] = np.where((dirs[1] < 0) & (t > 0), t, _INF)
        t = (_col(scenes.wall_z) - origin[2]) / dirs[2]
        y = origin[1] + t * dirs[1]
        cands[:, _WALL] = np.where((dirs[2] > 0) & (y >= 0) & (y <= _col(scenes.wall_height)),
                                   t, _INF)
    for k in range(MAX_SPHERES):
        cands[:, _SPHERE0 + k] = _sphere_hits(origin, dirs, scenes, k)
    boxes = []
    for k in range(MAX_BOXES):
        cands[:, _BOX0 + k], axis, d_local = _box_hits(origin, dirs, scenes, k)
        boxes.append((axis, d_local))
    surface = cands.argmin(1)
    t_hit = np.take_along_axis(cands, surface[:, None], 1)[:, 0]
    sky = ~np.isfinite(t_hit)
    surface = np.where(sky, -1, surface)
    t_hit = np.where(sky, f32(0), t_hit)
    point = tuple(origin[i] + t_hit * dirs[i] for i in range(3))

    zero = np.zeros((n, h * w), f32)
    normal = [zero, np.where(surface == _FLOOR, f32(1), zero),
              np.where(surface == _WALL, f32(-1), zero)]
    for k in range(MAX_SPHERES):
        on = surface == _SPHERE0 + k
        r = _col(scenes.sphere_radius[:, k])
        for i in range(3):
            normal[i] = np.where(on, (point[i] - _col(scenes.sphere_centre[:, k, i])) / r,
                                 normal[i])
    for k, (axis, d) in enumerate(boxes):
        on = surface == _BOX0 + k
        local = [np.where(axis == i, -np.sign(d[i]), zero) for i in range(3)]
        cos, sin = _col(np.cos(scenes.box_yaw[:, k])), _col(np.sin(scenes.box_yaw[:, k]))
        world = (cos * local[0] + sin * local[2], local[1], -sin * local[0] + cos * local[2])
        normal = [np.where(on, world[i], normal[i]) for i in range(3)]
    length = np.sqrt(_dot(normal, normal))
    normal = tuple(c / np.maximum(length, f32(1e-12)) for c in normal)

    # shading: Lambert with cast shadows of the spheres and boxes; textures in world units
    light = tuple(_col(scenes.light[:, i]) for i in range(3))
    lambert = np.clip(_dot(normal, light), 0, 1)
    start = tuple(point[i] + f32(1e-3) * normal[i] for i in range(3))
    towards = tuple(np.broadcast_to(c, start[0].shape) for c in light)
    shadow = np.zeros((n, h * w), bool)
    for k in range(MAX_SPHERES):
        shadow |= np.isfinite(_sphere_hits(start, towards, scenes, k))
    for k in range(MAX_BOXES):
        shadow |= np.isfinite(_box_hits(start, towards, scenes, k)[0])
    checker = (np.floor(point[0] * 2) + np.floor(point[2] * 2)) % 2 > 0
    bands = 0.85 + 0.15 * (np.floor(point[1] * 4) % 2)
    albedo = []
    for i in range(3):
        a = np.where(checker, _col(scenes.floor_colors[:, 0, i]),
                     _col(scenes.floor_colors[:, 1, i]))
        a = np.where(surface == _WALL, _col(scenes.wall_color[:, i]) * bands, a)
        albedo.append(a)
    for k in range(MAX_SPHERES):
        on = surface == _SPHERE0 + k
        rel = (point[1] - _col(scenes.sphere_centre[:, k, 1])) / _col(scenes.sphere_radius[:, k])
        stripes = 0.8 + 0.2 * (np.floor(rel * 3) % 2)
        albedo = [np.where(on, _col(scenes.sphere_color[:, k, i]) * stripes, albedo[i])
                  for i in range(3)]
    for k in range(MAX_BOXES):
        on = surface == _BOX0 + k
        tiles = sum(np.floor((point[i] - _col(scenes.box_centre[:, k, i])) / 0.15)
                    for i in range(3))
        tiles = 0.85 + 0.15 * (tiles % 2)
        albedo = [np.where(on, _col(scenes.box_color[:, k, i]) * tiles, albedo[i])
                  for i in range(3)]
    shade = 0.35 + 0.65 * lambert * ~shadow
    up = np.clip(dirs[1] / np.sqrt(_dot(dirs, dirs)), 0, 1)
    sky_rgb = (0.55, 0.72, 0.95)
    image = np.stack([np.where(sky, sky_rgb[i] * (0.85 + 0.15 * up), albedo[i] * shade)
                      for i in range(3)], -1)

    classes = np.array([1, 2] + [3] * MAX_SPHERES + [4] * MAX_BOXES, np.int32)
    seg = np.where(sky, 0, classes[np.maximum(surface, 0)])
    for k, (axis, _) in enumerate(boxes):  # a box's faces are surfaces of their own
        surface = np.where(surface == _BOX0 + k, _BOX0 + MAX_BOXES + 3 * k + axis, surface)
    rot32 = rot.astype(f32)
    normal_cam = np.stack([np.where(sky, zero, sum(rot32[:, i, j][:, None] * normal[j]
                                                   for j in range(3))) for i in range(3)], -1)
    return {"image": image.reshape(n, h, w, 3).astype(f32),
            "segmentation": seg.reshape(n, h, w, 1).astype(np.int32),
            "depth": t_hit.reshape(n, h, w, 1).astype(f32),
            "normals": normal_cam.reshape(n, h, w, 3).astype(f32),
            "surface": surface.reshape(n, h, w).astype(np.int16)}


def render(scenes: Scenes, cameras: Cameras, noise: float = 0.0,
           rng: np.random.Generator | None = None, chunk_rays: int = 600_000
           ) -> dict[str, np.ndarray]:
    """Ray-cast every pixel of every scene: vectorized over scenes and pixels, in chunks.

    Args:
        scenes, cameras: one camera per scene.
        noise: standard deviation of Gaussian pixel noise added to the image (``rng``
            draws it; clipped to [0, 1]).
        chunk_rays: rays per chunk (memory).

    Returns:
        ``image`` ``(N, H, W, 3)`` float32 in [0, 1]; ``segmentation`` ``(N, H, W, 1)``
        int32 (:data:`SCENE_CLASSES`); ``depth`` ``(N, H, W, 1)`` metres, 0 on the sky;
        ``normals`` ``(N, H, W, 3)`` unit in the camera frame (opencv), 0 on the sky;
        ``surface`` ``(N, H, W)`` int16, which surface each ray met (-1 sky, 0 floor, 1 wall,
        then one id per sphere and per box face): edges are where it changes.

    Raises:
        ValueError: scenes and cameras of different lengths, or a negative noise.

    Introduced in notebook 11.
    """
    if len(scenes) != len(cameras):
        raise ValueError(f"render needs one camera per scene; got {len(scenes)} scenes and "
                         f"{len(cameras)} cameras.")
    if noise < 0:
        raise ValueError(f"noise must be >= 0 (a standard deviation), got {noise}.")
    per = max(1, chunk_rays // (cameras.height * cameras.width))
    parts = [_render_chunk(scenes.take(slice(i, i + per)), cameras.take(slice(i, i + per)))
             for i in range(0, len(scenes), per)]
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if noise:
        rng = rng if rng is not None else np.random.default_rng(0)
        out["image"] = np.clip(out["image"] + rng.normal(0, noise, out["image"].shape), 0,
                               1).astype(np.float32)
    return out


# ------------------------------------------------------------------------ the data
@dataclass
class SceneData(MultiTaskData):
    """:class:`~mtl_utils.data.MultiTaskData` of rendered scenes, with each split's scenes
    and cameras (``geometry[split] = (Scenes, Cameras)``) kept for re-rendering and each
    ray's surface (``surfaces[split]``, ``(N, H, W)``) to find edges.

    Introduced in notebook 11.
    """

    geometry: dict[str, tuple[Scenes, Cameras]] = field(default_factory=dict)
    surfaces: dict[str, np.ndarray] = field(default_factory=dict)

    def with_train_size(self, n: int) -> SceneData:
        out = super().with_train_size(n)
        scenes, cameras = self.geometry["train"]
        cut = slice(0, int(n))
        return replace(out, geometry={**self.geometry, "train": (scenes.take(cut),
                                                                 cameras.take(cut))},
                       surfaces={**self.surfaces, "train": self.surfaces["train"][cut]})


def dense_tasks(focal_length: float | None = None, zoom_reading: str = "focal",
                convention: str = "opencv", classes: Sequence[str] = SCENE_CLASSES
                ) -> dict[str, Task]:
    """The tasks of :func:`make_scenes`: ``segmentation`` (mIoU), ``depth`` (absolute error,
    metres) and ``normals`` (mean angle, degrees), the last two reading a zoom as
    ``zoom_reading``.

    Raises:
        ValueError: an unknown zoom reading or convention, or the ``"closer"`` reading
            without a focal length.

    Introduced in notebook 11.
    """
    return task_dict([
        Task("segmentation", "segmentation", num_classes=len(classes), class_names=tuple(classes)),
        Task("depth", "depth", unit="m", zoom_reading=zoom_reading),
        Task("normals", "normals", unit="deg", zoom_reading=zoom_reading,
             convention=convention, focal_length=focal_length),
    ])


def with_zoom_reading(tasks: Iterable[Task] | Mapping[str, Task], reading: str,
                      renormalize: bool | None = None) -> dict[str, Task]:
    """``tasks`` with every depth and normals task reading a zoom as ``reading`` (one of
    :data:`~mtl_utils.dense.ZOOM_READINGS`), and normals renormalised after interpolation
    or not (``renormalize``; ``None`` keeps it); other tasks unchanged.

    ``with_zoom_reading(tasks, "research", renormalize=False)`` is the research code's
    convention: depth divided by the zoom, normals interpolated and left as they are.

    Raises:
        ValueError: an unknown reading.

    Introduced in notebook 11.
    """
    if reading not in ZOOM_READINGS:
        raise ValueError(f"unknown zoom reading {reading!r}; choose one of "
                         f"{', '.join(ZOOM_READINGS)}.")
    out = {}
    for name, t in task_dict(tasks).items():
        config = t.get_config()
        if t.kind in ("depth", "normals"):
            config["zoom_reading"] = reading
        if t.kind == "normals" and renormalize is not None:
            config["renormalize"] = bool(renormalize)
        out[name] = Task.from_config(config)
    return out


def make_scenes(n: int = 2000, image_size: int = 64, seed: int = 0, *, n_val: int = N_VAL,
                n_test: int = N_TEST, noise: float = 0.02, zoom_reading: str = "focal",
                convention: str = "opencv") -> SceneData:
    """Rendered scenes with exact segmentation, depth and normals labels, offline.

    Args:
        n: training-set size.
        image_size: height and width in pixels (at least 8).
        seed: the same seed gives the same data; each split draws from its own stream.
        n_val, n_test: validation and test sizes.
        noise: standard deviation of the Gaussian pixel noise.
        zoom_reading, convention: the tasks' zoom reading and the normals' camera frame
            (the stored labels are converted to ``convention``).

    Returns:
        :class:`SceneData` with tasks from :func:`dense_tasks`; ``info`` holds the
        intrinsics (``focal_length``, ``principal_point``) and the convention.

    Raises:
        ValueError: bad sizes, an unknown reading or convention.

    Introduced in notebook 11.
    """
    n = check_count("n", n)
    n_val, n_test = check_count("n_val", n_val), check_count("n_test", n_test)
    image_size = check_count("image_size", image_size, 8)
    if convention not in NORMAL_CONVENTIONS:
        raise ValueError(f"unknown normals convention {convention!r}; choose one of "
                         f"{', '.join(NORMAL_CONVENTIONS)}.")
    focal = FOCAL_FRACTION * image_size
    tasks = dense_tasks(focal, zoom_reading, convention)
    splits, geometry, surfaces = {}, {}, {}
    for k, (name, count) in enumerate((("train", n), ("val", n_val), ("test", n_test))):
        rng = np.random.default_rng([int(seed), k])
        scenes, cameras = draw_scenes(count, image_size, rng)
        out = render(scenes, cameras, noise, rng)
        if convention == "opengl":
            out["normals"] = out["normals"] * np.array([1, -1, -1], np.float32)
        splits[name] = Split(out.pop("image"), {t: out[t] for t in tasks})
        geometry[name], surfaces[name] = (scenes, cameras), out["surface"]
    info = {"seed": seed, "image_size": image_size, "focal_length": focal,
            "principal_point": ((image_size - 1) / 2.0, (image_size - 1) / 2.0),
            "classes": SCENE_CLASSES, "convention": convention, "noise": noise}
    return SceneData("scenes", tasks, **splits, info=info, geometry=geometry, surfaces=surfaces)


# -------------------------------------------------------------------- the oracle
def view_cameras(cameras: Cameras, matrices: Any) -> Cameras:
    """The cameras that see the views a policy made: ``matrices`` ``(N, 3, 3)`` forward
    similarity maps in pixel-index coordinates (flips, rotations, isotropic zooms, crops
    and shifts, composed). A view ``A = [[s Q, t], [0, 1]]`` is the camera rolled (or
    mirrored, ``det Q < 0``) by ``Q`` about its optical axis, its focal length times ``s``,
    its principal point moved to ``A c``; rendering it is the oracle of the labels' move.

    Raises:
        ValueError: a matrix that is not a similarity (a shear or an anisotropic zoom), or
            cameras that are skewed or have non-square pixels.

    Introduced in notebook 11.
    """
    a = np.asarray(matrices, np.float64)
    if a.shape != (len(cameras), 3, 3):
        raise ValueError(f"view_cameras needs one (3, 3) matrix per camera; got {a.shape} for "
                         f"{len(cameras)} cameras.")
    k = cameras.intrinsics
    if not (np.allclose(k[:, 0, 0], k[:, 1, 1]) and np.allclose(k[:, 0, 1], 0)):
        raise ValueError("view_cameras needs cameras with square pixels and no skew.")
    lin = a[:, :2, :2]
    s = np.sqrt(np.abs(np.linalg.det(lin)))
    q = lin / s[:, None, None]
    if not np.allclose(q @ np.transpose(q, (0, 2, 1)), np.eye(2), atol=1e-4):
        raise ValueError("view_cameras re-renders similarity views only (flips, rotations, "
                         "isotropic zooms, crops, shifts); a shear or an anisotropic zoom "
                         "is a skewed camera. Check these labels against render() of "
                         "intrinsics A @ K instead.")
    centre = np.einsum("nij,nj->ni", a, np.concatenate([k[:, :2, 2], np.ones((len(k), 1))], 1))
    new_k = np.zeros_like(k)
    new_k[:, 0, 0] = new_k[:, 1, 1] = s * k[:, 0, 0]
    new_k[:, :2, 2], new_k[:, 2, 2] = centre[:, :2], 1.0
    turn = np.zeros_like(k)
    turn[:, :2, :2], turn[:, 2, 2] = q, 1.0
    return replace(cameras, intrinsics=new_k, rotation=turn @ cameras.rotation)


def normals_from_depth(depth: np.ndarray, intrinsics: np.ndarray,
                       surface: np.ndarray | None = None) -> np.ndarray:
    """The normals a depth map implies: back-project each pixel with ``intrinsics``
    (``(N, 3, 3)``), take the cross product of the central differences along rows and
    columns, and face it to the camera (opencv frame). Zero where a neighbour is invalid
    or, with ``surface`` ``(N, H, W)``, on another surface: exact on planes, within a
    fraction of a degree on the spheres.

    Introduced in notebook 11.
    """
    z = np.asarray(depth, np.float64)[..., 0]
    n, h, w = z.shape
    v, u = np.mgrid[0:h, 0:w]
    pix = np.stack([u, v, np.ones_like(u)], -1).astype(np.float64)
    rays = np.einsum("nij,hwj->nhwi", np.linalg.inv(np.asarray(intrinsics, np.float64)), pix)
    points = rays * z[..., None]
    out = np.zeros((n, h, w, 3))
    du = points[:, 1:-1, 2:] - points[:, 1:-1, :-2]
    dv = points[:, 2:, 1:-1] - points[:, :-2, 1:-1]
    cross = np.cross(du, dv)
    cross *= -np.sign((cross * points[:, 1:-1, 1:-1]).sum(-1, keepdims=True))
    out[:, 1:-1, 1:-1] = cross / np.maximum(np.linalg.norm(cross, axis=-1, keepdims=True),
                                            1e-12)
    same = interior(z > 0 if surface is None else np.where(z > 0, surface, -1), radius=1)
    return np.where((same & (z > 0))[..., None], out, 0.0).astype(np.float32)


def interior(surface: np.ndarray, radius: int = 1) -> np.ndarray:
    """``(N, H, W)`` booleans: pixels whose ``(2 radius + 1)``-square neighbourhood lies on
    one surface (away from edges and from the frame's border).

    Introduced in notebook 11.
    """
    s = np.asarray(surface)
    n, h, w = s.shape
    out = np.zeros((n, h, w), bool)
    core = s[:, radius:h - radius, radius:w - radius]
    ok = np.ones_like(core, bool)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            ok &= s[:, radius + dy:h - radius + dy, radius + dx:w - radius + dx] == core
    out[:, radius:h - radius, radius:w - radius] = ok
    return out


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between the directions of vectors along the last axis.

    Introduced in notebook 11.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    cos = (a * b).sum(-1) / np.maximum(na * nb, 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def focal_length(data: MultiTaskData) -> float:
    """The focal length in pixels of scene data (``info["focal_length"]``).

    Raises:
        ValueError: data that is not from :func:`make_scenes`.

    Introduced in notebook 11.
    """
    if "focal_length" not in data.info:
        raise ValueError(f"data {data.name!r} has no stored intrinsics; make it with "
                         "make_scenes(...).")
    return float(data.info["focal_length"])


def field_of_view(image_size: int) -> float:
    """The horizontal field of view in degrees of the course's camera.

    Introduced in notebook 11.
    """
    return 2 * math.degrees(math.atan(image_size / 2 / (FOCAL_FRACTION * image_size)))

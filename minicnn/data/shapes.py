"""Shapes: a procedural dataset of ten kinds of coloured geometric shapes on textured backgrounds.

Every image holds one shape of random size, position, rotation and colour over a background that
is a colour gradient, stripes or blotchy noise. `labels` name the shape, `masks` mark its pixels,
so the same data serves classification and segmentation. Nothing is downloaded: the images are
drawn from a seed, the same bytes on every machine.

How a shape is drawn: each shape is an inside test written as a signed distance d(u, v) to its
outline, in pixels, positive inside, evaluated on the whole pixel grid of a batch of images at
once (u, v: pixel centres in the shape's rotated frame). A pixel's coverage is clip(d + 1/2, 0, 1),
a one-pixel ramp across the outline that smooths the edges (anti-aliasing); the mask is d > 0.

Reproducibility: all randomness comes from one numpy Generator seeded with (seed, split), drawn in
a fixed order, and the pixels use only +, -, *, /, sqrt, floor and comparisons on float64, which
IEEE 754 rounds the same everywhere (no sin/cos/exp from the platform's maths library, no matrix
products whose summation order depends on the BLAS). Rotations are unit vectors drawn by rejection
from the square [-1, 1]^2, not angles passed through cos and sin.
"""
from __future__ import annotations

import math

import numpy as np

from ..functional.checks import is_int
from .dataset import ImageDataset, generated_stream
from .transforms import resize_bilinear

SHAPE_CLASSES = ("circle", "square", "triangle", "star", "ring", "cross", "diamond", "hexagon",
                 "ellipse", "crescent")
TEXTURES = ("gradient", "stripes", "noise")
DEFAULT_SIZES = {"train": 10_000, "test": 2_000}
MIN_IMAGE_SIZE = 8

SQRT3, SQRT5 = math.sqrt(3.0), math.sqrt(5.0)
# Outward normals of a pentagram's five edge lines, at 18 + 72k degrees, written with square roots
# (cos 18 = sqrt(10 + 2 sqrt5) / 4, sin 18 = (sqrt5 - 1) / 4, cos 54 = sqrt(10 - 2 sqrt5) / 4, ...).
_C18, _S18 = math.sqrt(10 + 2 * SQRT5) / 4, (SQRT5 - 1) / 4
_C54, _S54 = math.sqrt(10 - 2 * SQRT5) / 4, (SQRT5 + 1) / 4
STAR_NORMALS = ((_C18, _S18), (0.0, 1.0), (-_C18, _S18), (-_C54, -_S54), (_C54, -_S54))
STAR_LINE_DISTANCE = (SQRT5 - 1) / 4  # cos 72: each edge line's distance from the centre, per unit outer radius


def _regular_band(u, v, normals, apothem):
    """Signed distance to the convex polygon {p : n . p <= apothem for every normal n}."""
    return apothem - np.max([nx * u + ny * v for nx, ny in normals], axis=0)


def circle(u, v, r, detail):
    return r - np.sqrt(u * u + v * v)


def square(u, v, r, detail):
    return 0.8 * r - np.maximum(np.abs(u), np.abs(v))


def triangle(u, v, r, detail):
    """Equilateral, circumradius 1.15 r: three edges at distance half the circumradius from the centre."""
    normals = ((0.0, -1.0), (SQRT3 / 2, 0.5), (-SQRT3 / 2, 0.5))
    return _regular_band(u, v, normals, 0.575 * r)


def star(u, v, r, detail):
    """Pentagram of outer radius 1.1 r. Its five edge lines bound the inner pentagon (inside all
    five half-planes); each spike lies outside exactly one. So a point is in the star when it is
    outside at most one half-plane: the second smallest of the five distances is >= 0."""
    distances = np.stack([STAR_LINE_DISTANCE * 1.1 * r - (nx * u + ny * v) for nx, ny in STAR_NORMALS])
    return np.partition(distances, 1, axis=0)[1]


def ring(u, v, r, detail):
    """Annulus between r and an inner radius of 0.45..0.6 r."""
    rho = np.sqrt(u * u + v * v)
    return np.minimum(r - rho, rho - (0.45 + 0.15 * detail) * r)


def cross(u, v, r, detail):
    """Two perpendicular bars of half-length 0.95 r and half-width 0.2..0.3 r (a plus sign)."""
    length, width = 0.95 * r, (0.2 + 0.1 * detail) * r
    au, av = np.abs(u), np.abs(v)
    return np.maximum(np.minimum(length - au, width - av), np.minimum(length - av, width - au))


def diamond(u, v, r, detail):
    """Rhombus with half-diagonals 1.15 r and 0.5..0.7 r (never a square)."""
    a, b = 1.15 * r, (0.5 + 0.2 * detail) * r
    return (1 - np.abs(u) / a - np.abs(v) / b) * (a * b / np.sqrt(a * a + b * b))


def hexagon(u, v, r, detail):
    normals = ((1.0, 0.0), (0.5, SQRT3 / 2), (-0.5, SQRT3 / 2), (-1.0, 0.0), (-0.5, -SQRT3 / 2), (0.5, -SQRT3 / 2))
    return _regular_band(u, v, normals, 0.87 * r)


def ellipse(u, v, r, detail):
    """Semi-axes r and 0.4..0.6 r; (1 - elliptic radius) x minor axis approximates the distance."""
    b = (0.4 + 0.2 * detail) * r
    return (1 - np.sqrt((u / r) ** 2 + (v / b) ** 2)) * b


def crescent(u, v, r, detail):
    """A disc of radius r minus a disc of radius 0.85 r shifted by 0.45..0.6 r."""
    shift = (0.45 + 0.15 * detail) * r
    return np.minimum(r - np.sqrt(u * u + v * v), np.sqrt((u - shift) ** 2 + v * v) - 0.85 * r)


SIGNED_DISTANCES = (circle, square, triangle, star, ring, cross, diamond, hexagon, ellipse, crescent)


def unit_vectors(generator: np.random.Generator, n: int) -> np.ndarray:
    """n random directions (n, 2), uniform on the circle: the first of 16 points drawn from the
    square [-1, 1]^2 that falls in the ring 1/16 < |p|^2 <= 1, normalised (all 16 miss with
    probability ~1e-9; then the direction is (1, 0))."""
    points = generator.uniform(-1.0, 1.0, size=(n, 16, 2))
    norm2 = (points ** 2).sum(axis=2)
    ok = (norm2 > 1 / 16) & (norm2 <= 1)
    first = ok.argmax(axis=1)
    chosen = points[np.arange(n), first]
    chosen[~ok.any(axis=1)] = (1.0, 0.0)
    return chosen / np.sqrt((chosen ** 2).sum(axis=1, keepdims=True))


def contrasting_colours(generator: np.random.Generator, backgrounds: np.ndarray) -> np.ndarray:
    """For each image one colour far from both its background colours: the first of 8 uniform RGB
    candidates at distance >= 0.45 from each, else the candidate farthest from the nearer one."""
    candidates = generator.uniform(0.0, 1.0, size=(len(backgrounds), 8, 3))
    gaps = np.min([((candidates - bg[:, None, :]) ** 2).sum(axis=2) for bg in backgrounds.transpose(1, 0, 2)], axis=0)
    far = gaps >= 0.45 ** 2
    choice = np.where(far.any(axis=1), far.argmax(axis=1), gaps.argmax(axis=1))
    return candidates[np.arange(len(candidates)), choice]


def draw_parameters(generator: np.random.Generator, n: int, size: int) -> dict:
    """Every per-image random choice, drawn in one fixed order (changing it changes the dataset)."""
    labels = generator.permutation(np.arange(n) % len(SHAPE_CLASSES))
    radius = size * generator.uniform(0.22, 0.4, size=n)
    margin = 1.15 * radius[:, None]  # the farthest any shape reaches from its centre
    centre = margin + (size - 2 * margin) * generator.uniform(0.0, 1.0, size=(n, 2))
    rotation = unit_vectors(generator, n)
    detail = generator.uniform(0.0, 1.0, size=n)
    texture = generator.integers(0, len(TEXTURES), size=n)
    first = generator.uniform(0.0, 1.0, size=(n, 3))
    second = np.clip(first + generator.uniform(-0.35, 0.35, size=(n, 3)), 0.0, 1.0)
    backgrounds = np.stack([first, second], axis=1)  # (n, 2, 3)
    return dict(labels=labels, radius=radius, centre=centre, rotation=rotation, detail=detail,
                texture=texture, backgrounds=backgrounds,
                colour=contrasting_colours(generator, backgrounds),
                direction=unit_vectors(generator, n),
                period=size / 32 * generator.uniform(3.0, 8.0, size=n),
                blotches=generator.uniform(0.0, 1.0, size=(n, 5, 5)))


def background_mix(p: dict, xs: np.ndarray, ys: np.ndarray, size: int) -> np.ndarray:
    """The mixing weight t in [0, 1] between each image's two background colours, (n, S, S)."""
    along = p["direction"][:, 0, None, None] * (xs - size / 2) + p["direction"][:, 1, None, None] * (ys - size / 2)
    gradient = np.clip(0.5 + along / size, 0.0, 1.0)
    phase = along / p["period"][:, None, None]
    stripes = np.abs(2 * (phase - np.floor(phase)) - 1)  # a triangle wave: no sin() needed
    noise = resize_bilinear(p["blotches"], (size, size))
    return np.choose(p["texture"][:, None, None], (gradient, stripes, noise))


def render(p: dict, size: int, generator: np.random.Generator) -> tuple:
    """Images (n, 3, S, S) float32 and masks (n, S, S) int64 for the parameters `p` of n images."""
    n = len(p["labels"])
    ys, xs = np.mgrid[0:size, 0:size] + 0.5  # pixel centres
    dx = xs - p["centre"][:, 0, None, None]
    dy = ys - p["centre"][:, 1, None, None]
    c, s = p["rotation"][:, 0, None, None], p["rotation"][:, 1, None, None]
    u, v = c * dx + s * dy, c * dy - s * dx
    distance = np.empty((n, size, size))
    for k, signed_distance in enumerate(SIGNED_DISTANCES):
        chosen = p["labels"] == k
        distance[chosen] = signed_distance(u[chosen], v[chosen], p["radius"][chosen, None, None],
                                           p["detail"][chosen, None, None])
    t = background_mix(p, xs, ys, size)[:, None]
    low, high = p["backgrounds"][:, 0, :, None, None], p["backgrounds"][:, 1, :, None, None]
    background = low + (high - low) * t + generator.uniform(-0.04, 0.04, size=(n, 1, size, size))
    coverage = np.clip(distance + 0.5, 0.0, 1.0)[:, None]
    images = background * (1 - coverage) + p["colour"][:, :, None, None] * coverage
    masks = np.where(distance > 0, p["labels"][:, None, None] + 1, 0)
    return np.clip(images, 0.0, 1.0).astype(np.float32), masks.astype(np.int64)


def make_shapes(num_samples: int, image_size: int = 32, seed: int = 0, split: str = "train") -> tuple:
    """(images (N, 3, S, S) float32 in [0, 1], labels (N,) int64, masks (N, S, S) int64): the
    Shapes images for this seed and split. The classes are balanced to within one image."""
    if not is_int(image_size) or image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"Shapes: image_size must be an integer >= {MIN_IMAGE_SIZE}, got {image_size!r}")
    generator = generated_stream("Shapes", num_samples, seed, split)
    p = draw_parameters(generator, num_samples, image_size)
    images = np.empty((num_samples, 3, image_size, image_size), dtype=np.float32)
    masks = np.empty((num_samples, image_size, image_size), dtype=np.int64)
    chunk = max(1, 2 ** 20 // image_size ** 2)  # bounded memory; the chunking is fixed by the size alone
    for start in range(0, num_samples, chunk):
        part = {name: values[start:start + chunk] for name, values in p.items()}
        images[start:start + chunk], masks[start:start + chunk] = render(part, image_size, generator)
    return images, p["labels"].astype(np.int64), masks


class Shapes(ImageDataset):
    """Ten classes of coloured shapes on textured backgrounds, RGB, made from a seed (see the module doc).

    num_samples: how many images (default 10,000 for split="train", 2,000 for "test"); image_size:
    S for S x S images (32 or 64 are the usual, any S >= 8 works); seed and split pick the images
    (the test split of a seed never repeats its train split's draws).
    `images` (N, 3, S, S) float32 in [0, 1], `labels` (N,) int64, `classes` the shape names,
    `masks` (N, S, S) int64: 0 for background, k + 1 on the pixels of a shape of class k.
    segmentation=True makes dataset[i] return (image, mask) instead of (image, label); a transform
    is then called as transform(image, mask) and must return both, so that a crop or a flip moves
    the mask with the image (an image-only transform fails loudly instead of misaligning them).
    """

    def __init__(self, num_samples=None, image_size=32, seed=0, split="train", transform=None,
                 segmentation=False):
        if num_samples is None:
            num_samples = DEFAULT_SIZES.get(split, 0)
        images, labels, self.masks = make_shapes(num_samples, image_size, seed, split)
        super().__init__(images, labels, SHAPE_CLASSES, transform)
        self.segmentation = bool(segmentation)

    def targets(self) -> np.ndarray:
        return self.masks if self.segmentation else self.labels

    def __getitem__(self, index):
        if self.segmentation and self.transform is not None:
            return self.transform(self.images[index], self.masks[index])
        return super().__getitem__(index)

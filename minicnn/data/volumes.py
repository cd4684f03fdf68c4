"""Volumes: a procedural dataset of 3-D scans in four classes (for 3-D convolutions).

Each sample is one object in a noisy S x S x S grey-level volume, like a small CT scan:

    blob    a solid ellipsoid (semi-axes 0.15..0.3 S, randomly oriented)
    tube    a solid cylinder of radius 0.06..0.12 S and length 0.5..0.8 S along a random direction
    shell   a hollow sphere: radius 0.18..0.32 S, wall 0.05..0.08 S thick
    plate   a flat slab 0.05..0.08 S thick and 0.2..0.35 S in radius, with a random normal

As in Shapes, each object is a signed distance d (in voxels, positive inside) and a voxel's value
is its coverage clip(d + 1/2, 0, 1) scaled by a random contrast over a random background level,
plus Gaussian noise. The position is random with the object wholly inside. A shell and a blob
can have the same outline in one slice and a plate seen edge-on looks like a tube, so the
classes need the three dimensions together.

Reproducibility: one numpy Generator seeded with (seed, split) drawn in a fixed order; only +, -,
*, /, sqrt and comparisons touch the voxels (directions are drawn by rejection, not through
sin/cos), so the same seed gives the same bytes everywhere.
"""
from __future__ import annotations

import numpy as np

from ..functional.checks import is_int
from .dataset import ImageDataset, generated_stream

VOLUME_CLASSES = ("blob", "tube", "shell", "plate")
DEFAULT_SIZES = {"train": 2000, "test": 400}
MIN_SIZE = 8


def unit_vectors_3d(generator: np.random.Generator, n: int) -> np.ndarray:
    """n random directions (n, 3), uniform on the sphere: the first of 16 points of the cube
    [-1, 1]^3 inside the shell 1/16 < |p|^2 <= 1, normalised ((1, 0, 0) if all 16 miss)."""
    points = generator.uniform(-1.0, 1.0, size=(n, 16, 3))
    norm2 = (points ** 2).sum(axis=2)
    ok = (norm2 > 1 / 16) & (norm2 <= 1)
    chosen = points[np.arange(n), ok.argmax(axis=1)]
    chosen[~ok.any(axis=1)] = (1.0, 0.0, 0.0)
    return chosen / np.sqrt((chosen ** 2).sum(axis=1, keepdims=True))


def signed_distance(label, p, a, b, c, axis):
    """The signed distance (voxels, > 0 inside) of one object of class `label` at the offsets p
    (3, S, S, S) from its centre; a, b, c its size parameters, axis its unit direction."""
    along = axis[0] * p[0] + axis[1] * p[1] + axis[2] * p[2]
    radial = np.sqrt(np.maximum((p ** 2).sum(axis=0) - along * along, 0.0))
    if label == 0:  # blob: an ellipsoid of revolution with semi-axes a (along `axis`) and b
        return (1 - np.sqrt((along / a) ** 2 + (radial / b) ** 2)) * min(a, b)
    if label == 1:  # tube: radius a, half-length b
        return np.minimum(a - radial, b - np.abs(along))
    rho = np.sqrt((p ** 2).sum(axis=0))
    if label == 2:  # shell: radius a, wall thickness c
        return c / 2 - np.abs(rho - (a - c / 2))
    return np.minimum(c / 2 - np.abs(along), b - radial)  # plate: half-thickness c / 2, radius b


def make_volumes(num_samples: int, size: int = 16, seed: int = 0, split: str = "train") -> tuple:
    """(volumes (N, 1, S, S, S) float32, labels (N,) int64) for this seed and split, classes
    balanced to within one sample."""
    if not is_int(size) or size < MIN_SIZE:
        raise ValueError(f"Volumes: size must be an integer >= {MIN_SIZE}, got {size!r}")
    generator = generated_stream("Volumes", num_samples, seed, split, 2)
    n, s = num_samples, size
    labels = generator.permutation(np.arange(n) % len(VOLUME_CLASSES))
    sizes = s * np.stack([generator.uniform(0.15, 0.3, n), generator.uniform(0.15, 0.3, n)], axis=1)
    sizes = np.where(labels[:, None] == 1, s * np.stack([generator.uniform(0.06, 0.12, n),
                                                         generator.uniform(0.25, 0.4, n)], axis=1), sizes)
    sizes = np.where(labels[:, None] == 2, s * np.stack([generator.uniform(0.18, 0.32, n),
                                                         generator.uniform(0.2, 0.35, n)], axis=1), sizes)
    sizes = np.where(labels[:, None] == 3, s * np.stack([generator.uniform(0.15, 0.3, n),
                                                         generator.uniform(0.2, 0.35, n)], axis=1), sizes)
    wall = s * generator.uniform(0.05, 0.08, n)
    axes = unit_vectors_3d(generator, n)
    reach = np.sqrt((sizes ** 2).sum(axis=1))  # bounds how far any object reaches from its centre
    centre = (reach[:, None] + 1) + (s - 2 * reach[:, None] - 2) * generator.uniform(0, 1, size=(n, 3))
    background = generator.uniform(0.0, 0.3, n)
    contrast = generator.uniform(0.35, 0.7, n)
    noise = generator.uniform(0.05, 0.15, n)
    grid = np.mgrid[0:s, 0:s, 0:s] + 0.5  # voxel centres (z, y, x)
    volumes = np.empty((n, 1, s, s, s), np.float32)
    for i in range(n):
        d = signed_distance(labels[i], grid - centre[i, :, None, None, None], sizes[i, 0], sizes[i, 1],
                            wall[i], axes[i])
        coverage = np.clip(d + 0.5, 0.0, 1.0)
        volumes[i, 0] = background[i] + contrast[i] * coverage + noise[i] * generator.standard_normal((s, s, s))
    return volumes, labels.astype(np.int64)


class Volumes(ImageDataset):
    """Four classes of objects in noisy 3-D volumes (see the module docstring).

    num_samples (default 2,000 for split="train", 400 for "test"), size S (16 or 32 usual; >= 8),
    seed and split pick the samples. `volumes` (N, 1, S, S, S) float32 (roughly in [0, 1] plus
    noise), also reachable as `images` so that the DataLoader and the training command treat it
    like any image dataset; `labels` (N,) int64; `classes` the names. dataset[i] is
    (volume (1, S, S, S), label), through `transform` if one is given.
    """

    def __init__(self, num_samples=None, size=16, seed=0, split="train", transform=None):
        if num_samples is None:
            num_samples = DEFAULT_SIZES.get(split, 0)
        volumes, labels = make_volumes(num_samples, size, seed, split)
        super().__init__(volumes, labels, VOLUME_CLASSES, transform)

    @property
    def volumes(self) -> np.ndarray:
        return self.images

"""The procedural Shapes dataset: reproducible, balanced, and every class drawn as its geometry says."""
import math

import numpy as np
import pytest

from minicnn.data import DataLoader, Shapes, make_shapes
from minicnn.data import shapes as S
from minicnn.data import transforms as T

H = 0.004  # grid step for the area checks, in units of the shape's radius r = 1
GRID = np.mgrid[-1.5:1.5:H, -1.5:1.5:H] + H / 2


def area(signed_distance, detail):
    """Area inside a shape of radius 1 by counting grid points, for a given detail in [0, 1]."""
    v, u = GRID
    return (signed_distance(u, v, 1.0, detail) > 0).sum() * H * H


def polygon_area(points):
    x, y = np.asarray(points).T
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def lens_area(r1, r2, d):
    """Area of the intersection of two discs of radii r1, r2 whose centres are d apart."""
    a1 = (d * d + r1 * r1 - r2 * r2) / (2 * d)
    a2 = d - a1
    return (r1 * r1 * math.acos(a1 / r1) - a1 * math.sqrt(r1 * r1 - a1 * a1)
            + r2 * r2 * math.acos(a2 / r2) - a2 * math.sqrt(r2 * r2 - a2 * a2))


def star_area(outer):
    """A regular pentagram's area from its ten vertices (inner radius = outer cos 72 / cos 36)."""
    inner = outer * math.cos(math.radians(72)) / math.cos(math.radians(36))
    angles = [math.radians(90 + 36 * k) for k in range(10)]
    radii = [outer if k % 2 == 0 else inner for k in range(10)]
    return polygon_area([(r * math.cos(a), r * math.sin(a)) for r, a in zip(radii, angles)])


@pytest.mark.parametrize("detail", [0.0, 0.7])
def test_each_class_has_the_area_of_its_geometry(detail):
    q = 0.5 + 0.2 * detail  # the diamond's short half-diagonal, the ellipse's 0.4 + 0.2 detail, ...
    expected = {
        "circle": math.pi,
        "square": 1.6 ** 2,
        "triangle": 3 * math.sqrt(3) / 4 * 1.15 ** 2,  # equilateral, circumradius 1.15
        "star": star_area(1.1),
        "ring": math.pi * (1 - (0.45 + 0.15 * detail) ** 2),
        "cross": 2 * (1.9 * 2 * (0.2 + 0.1 * detail)) - (2 * (0.2 + 0.1 * detail)) ** 2,
        "diamond": 2 * 1.15 * q,
        "hexagon": 2 * math.sqrt(3) * 0.87 ** 2,  # apothem 0.87
        "ellipse": math.pi * (0.4 + 0.2 * detail),
        "crescent": math.pi - lens_area(1.0, 0.85, 0.45 + 0.15 * detail),
    }
    for name, signed_distance in zip(S.SHAPE_CLASSES, S.SIGNED_DISTANCES, strict=True):
        assert area(signed_distance, detail) == pytest.approx(expected[name], rel=0.01), name


def test_shapes_have_their_features():
    zero = np.zeros(1)
    assert S.ring(zero, zero, 1.0, 0.5) < 0  # a hole in the middle
    assert S.cross(zero, zero, 1.0, 0.5) > 0 and S.cross(zero + 0.6, zero + 0.6, 1.0, 0.5) < 0  # not a square
    assert S.crescent(zero, zero, 1.0, 0.5) < 0 and S.crescent(zero - 0.9, zero, 1.0, 0.5) > 0
    assert S.star(zero, zero + 1.05, 1.0, 0) > 0 and S.star(zero + 0.4, zero + 0.6, 1.0, 0) < 0  # a tip, a notch
    for signed_distance in S.SIGNED_DISTANCES:  # everything stays within 1.15 r, the margin to the border
        v, u = GRID
        inside = signed_distance(u, v, 1.0, 1.0) > 0
        assert np.sqrt(u * u + v * v)[inside].max() <= 1.15 + 2 * H


def test_same_seed_same_bytes_other_seed_or_split_differs():
    a, b = make_shapes(60, 24, seed=5), make_shapes(60, 24, seed=5)
    for x, y in zip(a, b):
        assert x.tobytes() == y.tobytes()
    other, test = make_shapes(60, 24, seed=6), make_shapes(60, 24, seed=5, split="test")
    assert not np.array_equal(a[0], other[0]) and not np.array_equal(a[0], test[0])


def test_dataset_shapes_types_and_balance():
    ds = Shapes(1003, image_size=20, seed=1)
    assert ds.images.shape == (1003, 3, 20, 20) and ds.images.dtype == np.float32
    assert ds.labels.dtype == np.int64 and ds.masks.shape == (1003, 20, 20) and ds.masks.dtype == np.int64
    assert 0 <= ds.images.min() and ds.images.max() <= 1
    counts = np.bincount(ds.labels, minlength=10)
    assert counts.max() - counts.min() <= 1 and ds.classes == list(S.SHAPE_CLASSES)
    assert set(np.unique(ds.masks)) <= set(range(11))
    assert len(Shapes(split="test", image_size=16)) == 2000


def test_masks_agree_with_the_images():
    images, labels, masks = make_shapes(200, 32, seed=2)
    contrast = []
    for image, label, mask in zip(images, labels, masks):
        assert set(np.unique(mask)) == {0, label + 1}
        inside = mask > 0
        core = inside.copy()  # shape pixels whose 4 neighbours are shape pixels too: mostly fully covered
        core[1:-1, 1:-1] &= inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:]
        core[[0, -1], :] = core[:, [0, -1]] = False
        colours, counts = np.unique(image[:, core].T, axis=0, return_counts=True)
        colour = colours[counts.argmax()]
        assert counts.max() >= 0.8 * core.sum() > 0  # one flat colour (anti-aliased only near tips)
        assert (image[:, ~inside].T != colour).any(axis=1).all()  # the background never has it
        contrast.append(np.abs(image[:, ~inside].mean(axis=1) - colour).max())
    assert np.mean(np.array(contrast) > 0.2) > 0.9


def test_drawn_images_look_like_their_class():
    images, labels, masks = make_shapes(300, 48, seed=3)
    border = np.concatenate([masks[:, [0, -1], :], masks[:, :, [0, -1]].transpose(0, 2, 1)], axis=2)
    assert (border > 0).any(axis=(1, 2)).mean() < 0.02  # whole shapes (a pixel may touch the edge)
    for label, mask in zip(labels, masks):
        ys, xs = np.nonzero(mask)
        centre = int(round(ys.mean() - 0.5)), int(round(xs.mean() - 0.5))
        if S.SHAPE_CLASSES[label] == "circle":
            diameter = xs.max() - xs.min() + 1
            assert len(xs) == pytest.approx(math.pi * diameter ** 2 / 4, rel=0.15)
        if S.SHAPE_CLASSES[label] == "ring":
            assert mask[centre] == 0  # the centroid of an annulus is in its hole
        if S.SHAPE_CLASSES[label] in ("cross", "square", "hexagon", "circle", "star"):
            assert mask[centre] == label + 1


def test_segmentation_mode_and_loader():
    ds = Shapes(12, image_size=16, seed=0, segmentation=True)
    image, mask = ds[3]
    assert image.shape == (3, 16, 16) and mask.shape == (16, 16)
    x, y = next(iter(DataLoader(ds, 5)))
    assert x.shape == (5, 3, 16, 16) and y.shape == (5, 16, 16) and y.dtype == np.int64
    _, label = Shapes(12, image_size=16, seed=0)[3]
    assert label == ds.labels[3]
    flip = Shapes(12, image_size=16, seed=0, segmentation=True,
                  transform=lambda image, mask: (image[:, :, ::-1], mask[:, ::-1]))
    np.testing.assert_array_equal(flip[3][1], mask[:, ::-1])
    with pytest.raises(TypeError):  # an image-only transform would leave the mask behind
        Shapes(12, image_size=16, segmentation=True, transform=T.RandomHorizontalFlip())[0]


def test_rotations_are_uniform_unit_vectors():
    v = S.unit_vectors(np.random.default_rng(0), 20000)
    np.testing.assert_allclose((v ** 2).sum(axis=1), 1.0, rtol=1e-12)
    angle = np.arctan2(v[:, 1], v[:, 0])
    counts = np.histogram(angle, bins=8, range=(-np.pi, np.pi))[0]
    assert counts.min() > 2200 and counts.max() < 2800  # 2500 expected in each eighth


def test_bad_arguments():
    with pytest.raises(ValueError, match="image_size must be an integer >= 8"):
        Shapes(10, image_size=4)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        Shapes(10, split="val")
    with pytest.raises(ValueError, match="num_samples must be a non-negative integer"):
        Shapes(-1)

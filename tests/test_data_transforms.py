"""Image transforms, each against a direct computation of what it should do."""
import colorsys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
from minicnn.data import transforms as T


@pytest.fixture
def image():
    return np.random.default_rng(0).uniform(0, 1, size=(3, 6, 7)).astype(np.float32)


def test_to_float_scales_uint8_and_moves_channels_first():
    hwc = np.random.default_rng(1).integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
    out = T.ToTensor()(hwc)
    assert out.shape == (3, 5, 6) and out.dtype == np.float32
    np.testing.assert_allclose(out, hwc.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(T.ToFloat()(hwc.transpose(2, 0, 1)), out)
    assert T.ToFloat()(hwc[:, :, 0]).shape == (1, 5, 6)
    np.testing.assert_array_equal(T.ToFloat()(out), out)  # floats are only cast, as torchvision
    with pytest.raises(ValueError, match=r"cannot tell whether shape \(3, 5, 3\)"):
        T.ToFloat()(np.zeros((3, 5, 3), np.uint8))
    assert T.ToFloat(layout="CHW")(np.zeros((3, 5, 3), np.uint8)).shape == (3, 5, 3)


def test_normalize_per_channel(image):
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    out = T.Normalize(mean, std)(image)
    for c in range(3):
        np.testing.assert_allclose(out[c], (image[c] - mean[c]) / std[c], rtol=1e-6)
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match="2 mean values for an image with 3 channels"):
        T.Normalize((0.1, 0.2), (1.0, 1.0))(image)
    with pytest.raises(ValueError, match="every std > 0"):
        T.Normalize(0.5, 0.0)


def test_random_crop_is_a_uniform_slice_of_the_padded_image(image):
    crop = T.RandomCrop((6, 7), padding=2, generator=np.random.default_rng(3))
    padded = np.pad(image, ((0, 0), (2, 2), (2, 2)))
    seen = np.zeros((5, 5), int)
    for _ in range(1000):
        out = crop(image)
        matches = [(i, j) for i in range(5) for j in range(5) if np.array_equal(out, padded[:, i:i + 6, j:j + 7])]
        assert len(matches) == 1
        seen[matches[0]] += 1
    assert seen.min() > 20 and seen.max() < 70  # 40 each expected


@pytest.mark.parametrize("mode", ["reflect", "edge", "symmetric"])
def test_random_crop_padding_modes_and_forms(image, mode):
    # (left/right, top/bottom) = (1, 2); cropping the whole padded image shows the padding itself
    out = T.RandomCrop((10, 9), padding=(1, 2), padding_mode=mode)(image)
    np.testing.assert_array_equal(out, np.pad(image, ((0, 0), (2, 2), (1, 1)), mode=mode))
    left, top, right, bottom = 1, 2, 3, 0
    out = T.RandomCrop((8, 11), padding=(left, top, right, bottom), fill=0.5)(image)
    np.testing.assert_array_equal(out, np.pad(image, ((0, 0), (2, 0), (1, 3)), constant_values=0.5))
    with pytest.raises(ValueError, match=r"crop size \(7, 7\) is larger than the image \(6, 7\)"):
        T.RandomCrop(7)(image)


def test_horizontal_flip(image):
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(image), image[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(image), image)
    flip = T.RandomHorizontalFlip(generator=np.random.default_rng(0))
    flips = sum(np.array_equal(flip(image), image[:, :, ::-1]) for _ in range(400))
    assert 160 < flips < 240


def test_resize_bilinear_matches_pytorch_align_corners_false():
    x = np.array([[[1.0, 2.0], [3.0, 4.0]]], np.float32)
    # torch.nn.functional.interpolate(x, size=(4, 4), mode="bilinear", align_corners=False)
    expected = [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3.0, 3.25, 3.75, 4.0]]
    np.testing.assert_allclose(T.Resize((4, 4))(x)[0], expected)
    row = np.array([[[0.0, 1.0, 2.0, 3.0]]])
    np.testing.assert_allclose(T.Resize((1, 2))(row)[0, 0], [0.5, 2.5])  # 4 -> 2 reads at 0.5 and 2.5
    np.testing.assert_allclose(T.Resize((1, 2))(row[:, :, :3])[0, 0], [0.25, 1.75])  # 3 -> 2 at 0.25, 1.75
    assert T.Resize(4)(np.zeros((3, 6, 9), np.float32)).shape == (3, 4, 6)  # shorter side to 4
    assert T.Resize(4)(np.zeros((3, 9, 6), np.float32)).shape == (3, 6, 4)


def test_center_crop_rounds_as_torchvision():
    x = np.arange(2 * 7 * 8, dtype=np.float32).reshape(2, 7, 8)
    # top = round((7 - 4) / 2) = round(1.5) = 2, left = round((8 - 3) / 2) = round(2.5) = 2
    np.testing.assert_array_equal(T.CenterCrop((4, 3))(x), x[:, 2:6, 2:5])
    np.testing.assert_array_equal(T.CenterCrop(7)(x), x[:, :, 0:7])  # round(0.5) = 0


def test_ten_crop():
    x = np.random.default_rng(2).uniform(size=(3, 9, 10)).astype(np.float32)
    crops = T.TenCrop((4, 5))(x)
    assert crops.shape == (10, 3, 4, 5)
    m = x[:, :, ::-1]
    expected = [x[:, :4, :5], x[:, :4, 5:], x[:, 5:, :5], x[:, 5:, 5:], x[:, 2:6, 2:7],
                m[:, :4, :5], m[:, :4, 5:], m[:, 5:, :5], m[:, 5:, 5:], m[:, 2:6, 2:7]]
    for got, want in zip(crops, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(T.TenCrop(4, vertical_flip=True)(x)[5], x[:, ::-1][:, :4, :4])


def test_random_resized_crop_boxes_obey_scale_and_ratio():
    crop = T.RandomResizedCrop(8, scale=(0.2, 0.6), ratio=(0.5, 2.0), generator=np.random.default_rng(4))
    for _ in range(300):
        top, left, h, w = crop.crop_box(40, 50)
        assert 0 <= top and top + h <= 40 and 0 <= left and left + w <= 50
        assert 0.2 * 2000 - 60 <= h * w <= 0.6 * 2000 + 60  # rounding h and w moves the area a little
        assert 0.5 - 0.1 <= w / h <= 2.0 + 0.1
    x = np.random.default_rng(5).uniform(size=(3, 12, 12)).astype(np.float32)
    whole = T.RandomResizedCrop(12, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    np.testing.assert_allclose(whole(x), x)  # the whole image resized to its own size
    # a 4 x 40 image holds no square of 90% of its area: fall back to the centred square
    assert T.RandomResizedCrop(4, scale=(0.9, 1.0), ratio=(1.0, 1.0)).crop_box(4, 40) == (0, 18, 4, 4)
    assert whole(np.zeros((1, 30, 20), np.float32)).shape == (1, 12, 12)


def test_color_jitter_factors_stay_in_their_bounds():
    x = np.random.default_rng(6).uniform(0.05, 0.5, size=(3, 5, 5)).astype(np.float32)
    bright = T.ColorJitter(brightness=0.3, generator=np.random.default_rng(7))
    ratios = [float((bright(x) / x).mean()) for _ in range(200)]
    assert 0.7 <= min(ratios) < 0.75 and 1.25 < max(ratios) <= 1.3
    out = bright(x)
    np.testing.assert_allclose(out / x, (out / x).mean(), rtol=1e-5)  # one factor for the whole image
    gray = T.grayscale(x)
    mild = np.random.default_rng(6).uniform(0.2, 0.4, size=(3, 5, 5)).astype(np.float32)  # never clipped
    contrast = T.ColorJitter(contrast=0.5, generator=np.random.default_rng(8))
    m = T.grayscale(mild).mean()
    for _ in range(50):  # out = c x + (1 - c) m for one c in [0.5, 1.5]
        out = contrast(mild)
        c = (out.max() - out.min()) / (mild.max() - mild.min())
        assert 0.5 - 1e-4 <= c <= 1.5 + 1e-4
        np.testing.assert_allclose(out, c * mild + (1 - c) * m, atol=1e-5)
    np.testing.assert_allclose(T.ColorJitter(saturation=(0, 0))(x), np.repeat(gray, 3, axis=0), rtol=1e-6)
    everything = T.ColorJitter(0.8, 0.8, 0.8, 0.5, generator=np.random.default_rng(9))
    for _ in range(50):
        out = everything(x)
        assert out.shape == x.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match=r"hue range must be within \[-0.5, 0.5\]"):
        T.ColorJitter(hue=0.7)


def test_hue_conversions_match_colorsys():
    x = np.random.default_rng(10).uniform(size=(3, 4, 6))
    x[:, 0, 0] = 0.5  # a grey pixel: hue and saturation 0
    hsv = T.rgb_to_hsv(x)
    for i in range(4):
        for j in range(6):
            np.testing.assert_allclose(hsv[:, i, j], colorsys.rgb_to_hsv(*x[:, i, j]), atol=1e-12)
    np.testing.assert_allclose(T.hsv_to_rgb(hsv), x, atol=1e-12)
    red = np.zeros((3, 1, 1), np.float32)
    red[0] = 1
    turned = T.ColorJitter(hue=(0.5, 0.5))(red)  # half a turn of hue: red -> cyan
    np.testing.assert_allclose(turned[:, 0, 0], [0, 1, 1], atol=1e-6)


def test_pca_lighting_adds_eigvec_times_alpha_eigval():
    x = np.random.default_rng(11).uniform(size=(3, 4, 5)).astype(np.float32)
    light = T.PCALighting(0.1, generator=np.random.default_rng(12))
    eigval, eigvec = np.array(T.IMAGENET_EIGVAL), np.array(T.IMAGENET_EIGVEC)
    alphas = []
    for _ in range(2000):
        offset = (light(x) - x).astype(np.float64)
        per_channel = offset.reshape(3, -1).mean(axis=1)
        np.testing.assert_allclose(offset, np.broadcast_to(per_channel[:, None, None], x.shape), atol=1e-6)
        alphas.append(np.linalg.solve(eigvec, per_channel) / eigval)  # offset = eigvec @ (alpha * eigval)
    alphas = np.array(alphas)
    np.testing.assert_allclose(alphas.std(axis=0), 0.1, rtol=0.1)
    np.testing.assert_allclose(alphas.mean(axis=0), 0.0, atol=0.01)
    explicit = T.PCALighting(0.5, eigval=(1.0, 0.0, 0.0), eigvec=np.eye(3), generator=np.random.default_rng(1))
    alpha = np.random.default_rng(1).normal(0, 0.5, size=3)
    np.testing.assert_allclose((explicit(x) - x)[:, 0, 0], [alpha[0], 0, 0], atol=1e-6)


def test_compose_and_seeded_generators(image):
    pipeline = lambda seed: T.Compose([T.RandomCrop(5, padding=1, generator=np.random.default_rng(seed)),
                                       T.RandomHorizontalFlip(generator=np.random.default_rng(seed)),
                                       T.Normalize(0.5, 0.25)])
    first, second = pipeline(1), pipeline(1)
    runs = [[p(image) for _ in range(5)] for p in (first, second)]
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(T.Compose([T.Normalize(0.5, 0.25), T.CenterCrop(2)])(image),
                               (image[:, 2:4, 2:4] - 0.5) / 0.25, rtol=1e-6)
    flip = T.RandomHorizontalFlip()
    mc.manual_seed(3)
    assert flip.generator is mc.default_generator()
    a = [flip(image)[0, 0, 0] for _ in range(20)]
    mc.manual_seed(3)
    assert a == [flip(image)[0, 0, 0] for _ in range(20)]
    with pytest.raises(TypeError, match="expected a numpy.random.Generator"):
        T.RandomCrop(3, generator=42)
    restored = np.random.default_rng(8)
    flip.generator = restored
    assert flip.generator is restored
    with pytest.raises(ValueError, match=r"expected an image of shape \(C, H, W\), got shape \(6, 7\)"):
        T.RandomHorizontalFlip()(image[0])


@settings(max_examples=30)
@given(c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), data=st.data())
def test_crops_and_resizes_give_the_asked_shape_and_keep_values_in_range(c, h, w, data):
    x = np.random.default_rng(h * 10 + w).uniform(size=(c, h, w)).astype(np.float32)
    th, tw, pad = data.draw(st.integers(1, h)), data.draw(st.integers(1, w)), data.draw(st.integers(0, 2))
    g = np.random.default_rng(0)
    for transform in (T.RandomCrop((th, tw), padding=pad, generator=g), T.CenterCrop((th, tw)),
                      T.RandomResizedCrop((th, tw), generator=g)):
        out = transform(x)
        assert out.shape == (c, th, tw) and out.dtype == np.float32
    size = (data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12)))
    out = T.Resize(size)(x)
    assert out.shape == (c,) + size and x.min() - 1e-6 <= out.min() and out.max() <= x.max() + 1e-6
    assert T.TenCrop((th, tw))(x).shape == (10, c, th, tw)

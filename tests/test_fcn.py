"""The segmentation networks: output size of each variant, the bilinear start of the transposed
upsampling, the recurrent refinement's weight sharing (against an unrolled copy with tied weights,
and finite differences), and a reduced network learning Shapes masks."""
import numpy as np
import pytest

import minicnn
from minicnn import Tensor, gradcheck, nn, no_grad, optim
from minicnn import functional as F
from minicnn.architectures import build
from minicnn.architectures.fcn import (RecurrentRefinement, bilinear_kernel, transposed_upsample,
                                       unit_stride_max_pool)
from minicnn.data import Shapes
from minicnn.metrics_segmentation import mean_iou, pixel_accuracy

VARIANTS = ["fcn_nopool", "fcn_unitpool", "fcn_upsample"]


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("size", [(16, 16), (12, 20)])
def test_output_is_a_score_map_of_the_input_size(name, size):
    model = build(name, num_classes=5, width=1 / 8, in_channels=2, refine_steps=1,
                  generator=np.random.default_rng(0))
    x = Tensor(np.random.default_rng(1).standard_normal((3, 2) + size).astype(np.float32))
    y = model(x)
    assert y.shape == (3, 5) + size and y.dtype == np.float32 and np.isfinite(y.array).all()


def test_full_size_shapes_model():
    """The default network on a batch of Shapes images: 11 classes, 32 x 32."""
    for name in VARIANTS:
        model = build(name, generator=np.random.default_rng(0)).eval()
        with no_grad():
            y = model(Tensor(Shapes(2, 32).images))
        assert y.shape == (2, 11, 32, 32) and np.isfinite(y.array).all()


def test_no_pooling_variants_never_shrink_a_feature_map():
    model = build("fcn_unitpool", width=1 / 8, generator=np.random.default_rng(0))
    sizes = []
    for name, module in model.named_modules():  # (the global context's 1x1 conv sees the image mean)
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d)) and not name.startswith("body.context"):
            module.register_forward_hook(lambda m, i, o: sizes.append(o.shape[2:]))
    model(Tensor(np.zeros((1, 3, 10, 10), np.float32)))
    assert sizes and set(sizes) == {(10, 10)}


def test_unit_stride_pooling_is_a_square_max_pooling():
    """The 1 x 5 then 5 x 1 pooling against the 5 x 5 window maximum from the definition
    (padding never wins: -inf), and its gradient against finite differences."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 9))
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-np.inf)
    expected = np.lib.stride_tricks.sliding_window_view(padded, (5, 5), axis=(2, 3)).max(axis=(-2, -1))
    pool = unit_stride_max_pool(5)
    np.testing.assert_array_equal(pool(Tensor(x)).array, expected)
    assert gradcheck(pool, [Tensor(x[:1, :1, :5, :6], requires_grad=True)])


def test_options_are_checked():
    with pytest.raises(ValueError, match="variant must be one of"):
        build("fcn", variant="pool")
    with pytest.raises(ValueError, match="upsample must be one of"):
        build("fcn_upsample", upsample="cubic")
    with pytest.raises(ValueError, match="divisible by 4"):
        build("fcn_upsample", input_size=30)
    with pytest.raises(TypeError, match="fcn_nopool has no option .variant."):
        build("fcn_nopool", variant="upsample")
    with pytest.raises(ValueError, match="steps must be a non-negative int"):
        build("fcn", refine_steps=-1)
    model = build("fcn_upsample", width=1 / 8, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="divisible by 4, got 10x12"):
        model(Tensor(np.zeros((1, 3, 10, 12), np.float32)))
    with pytest.raises(ValueError, match=r"expected an \(N, 3, H, W\) input, got shape \(1, 1, 8, 8\)"):
        model(Tensor(np.zeros((1, 1, 8, 8), np.float32)))


def bilinear_reference(x, factor):
    """Bilinear upsampling with half-pixel centres (align_corners=False), from the definition:
    output pixel o samples the input at (o + 1/2) / factor - 1/2, edges clamped."""
    def axis_weights(n):
        source = np.clip((np.arange(n * factor) + 0.5) / factor - 0.5, 0, n - 1)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, n - 1)
        weights = np.zeros((n * factor, n))
        np.add.at(weights, (np.arange(n * factor), low), 1 - (source - low))
        np.add.at(weights, (np.arange(n * factor), high), source - low)
        return weights
    rows, cols = axis_weights(x.shape[2]), axis_weights(x.shape[3])
    return np.einsum("oh,nchw,pw->ncop", rows, x, cols)


def test_transposed_upsampling_starts_as_bilinear_interpolation():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6))
    layer = transposed_upsample(3, 4).double()
    y = layer(Tensor(x)).array
    expected = bilinear_reference(x, 4)
    assert y.shape == expected.shape == (2, 3, 20, 24)
    # the transposed convolution sees zeros beyond the edge, so only the interior agrees
    np.testing.assert_allclose(y[:, :, 2:-2, 2:-2], expected[:, :, 2:-2, 2:-2], rtol=1e-12, atol=1e-12)
    assert bilinear_kernel(1, 8)[0, 0].sum() == pytest.approx(16)  # a stride-4 kernel covers 4 x 4 outputs


def refinement(steps, rng, features=3, classes=4):
    module = RecurrentRefinement(features, classes, steps, generator=rng).double()
    module.conv.weight.array[...] = rng.standard_normal(module.conv.weight.shape) * 0.5
    module.conv.bias.array[...] = rng.standard_normal(classes) * 0.5
    return module


def test_refinement_equals_an_unrolled_copy_with_tied_weights():
    """Applying the module T times is the same as T separate convolutions holding the same weights;
    the shared weight's gradient is the sum of the T copies' gradients, likewise for the inputs."""
    rng = np.random.default_rng(0)
    steps = 3
    module = refinement(steps, rng)
    h = rng.standard_normal((2, 3, 5, 6))
    s0 = rng.standard_normal((2, 4, 5, 6))
    upstream = rng.standard_normal((2, 4, 5, 6))
    h1, s1 = Tensor(h, requires_grad=True), Tensor(s0, requires_grad=True)
    (module(h1, s1) * Tensor(upstream)).sum().backward()

    h2, s2 = Tensor(h, requires_grad=True), Tensor(s0, requires_grad=True)
    copies = [(Tensor(module.conv.weight.array.copy(), requires_grad=True),
               Tensor(module.conv.bias.array.copy(), requires_grad=True)) for _ in range(steps)]
    scores = s2
    for weight, bias in copies:
        probabilities = F.softmax(scores, dim=1)
        scores = scores + F.conv2d(F.cat([h2, probabilities], dim=1), weight, bias, padding=1)
    (scores * Tensor(upstream)).sum().backward()

    np.testing.assert_allclose(module(h1, s1).array, scores.array, rtol=1e-12)
    np.testing.assert_allclose(module.conv.weight.grad.array, sum(w.grad.array for w, _ in copies), rtol=1e-10)
    np.testing.assert_allclose(module.conv.bias.grad.array, sum(b.grad.array for _, b in copies), rtol=1e-10)
    np.testing.assert_allclose(h1.grad.array, h2.grad.array, rtol=1e-10)
    np.testing.assert_allclose(s1.grad.array, s2.grad.array, rtol=1e-10)
    # every step contributes: the copies' gradients differ from each other
    assert not np.allclose(copies[0][0].grad.array, copies[-1][0].grad.array)


@pytest.mark.parametrize("steps", [1, 3])
def test_refinement_gradcheck(steps):
    rng = np.random.default_rng(steps)
    module = refinement(steps, rng, features=2, classes=3)
    h = Tensor(rng.standard_normal((2, 2, 4, 5)), requires_grad=True)
    s = Tensor(rng.standard_normal((2, 3, 4, 5)), requires_grad=True)
    assert gradcheck(module, [h, s])


def test_zero_steps_and_the_initial_identity():
    rng = np.random.default_rng(0)
    s = Tensor(rng.standard_normal((1, 3, 4, 4)))
    h = Tensor(rng.standard_normal((1, 2, 4, 4)))
    assert RecurrentRefinement(2, 3, 0)(h, s) is s
    model = build("fcn", refine_steps=3, width=1 / 8, generator=rng).eval()
    x = Tensor(rng.random((1, 3, 8, 8)).astype(np.float32))
    with no_grad():  # zero-initialised refinement: the coarse scores pass unchanged
        coarse, _ = model.coarse_scores(x)
        np.testing.assert_array_equal(model(x).array, coarse.array)
    assert len(list(model.refine.parameters())) == 2  # one convolution, whatever the number of steps
    assert build("fcn", width=1 / 8, generator=rng).refine is None  # refine_steps=0: no refinement layer


def train_segmentation(name, epochs, num_train=160, batches=10, lr=0.01, binary=False, **options):
    """A reduced network on 16x16 Shapes images; returns (pixel accuracy, mean IoU) on 64 test images.
    binary=True: shape against background only (2 classes)."""
    train, test = Shapes(num_train, 16, seed=0), Shapes(64, 16, seed=0, split="test")
    if binary:
        train.masks, test.masks = (train.masks > 0).astype(np.int64), (test.masks > 0).astype(np.int64)
    minicnn.manual_seed(0)
    model = build(name, num_classes=2 if binary else 11, width=1 / 4, input_size=16,
                  generator=np.random.default_rng(0), **options)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    order = np.random.default_rng(1)
    for _ in range(epochs):
        for batch in np.array_split(order.permutation(len(train)), batches):
            loss = F.cross_entropy(model(Tensor(train.images[batch])), Tensor(train.masks[batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with no_grad():
        scores = model(Tensor(test.images)).array
    return pixel_accuracy(scores, test.masks), mean_iou(scores, test.masks, scores.shape[1])


@pytest.mark.parametrize("name, options", [("fcn_nopool", {}), ("fcn_unitpool", {}),
                                           ("fcn_upsample", {"refine_steps": 2})])
def test_a_reduced_network_learns_to_separate_shapes_from_background(name, options):
    """80 steps on 160 images of 16x16, shape against background: well above predicting all
    background (accuracy ~0.8, mean IoU ~0.4). The full 11-class runs are in the README."""
    background = np.mean(Shapes(64, 16, seed=0, split="test").masks == 0)
    accuracy, iou = train_segmentation(name, epochs=10, lr=0.003, binary=True, **options)
    assert accuracy > background + 0.03, (accuracy, background)
    assert iou > 0.55

"""Batch-norm folding gives the unfolded model's eval outputs; inference records no graph."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import architectures, nn
from minicnn.deploy import InferenceModel, fold_batch_norm


def with_trained_statistics(model, seed=0):
    """Batch norms with running statistics and affine parameters far from their initial values."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.array = rng.normal(0, 0.5, c).astype(np.float32)
            m.running_var.array = rng.uniform(0.5, 2.0, c).astype(np.float32)
            m.weight.array = rng.uniform(0.5, 1.5, c).astype(np.float32)
            m.bias.array = rng.normal(0, 0.2, c).astype(np.float32)
    return model.eval()


@pytest.mark.parametrize("arch, options, dtype, tolerance", [
    ("resnet_cifar", dict(depth=20), np.float32, 1e-5),
    ("resnet_cifar", dict(depth=20), np.float64, 1e-10),
    ("resnet50", dict(width=0.125, input_size=32), np.float64, 1e-10)])  # float32: 1.2e-5 after 53 layers
def test_folded_model_equals_the_unfolded_one_in_eval_mode(arch, options, dtype, tolerance):
    model = architectures.build(arch, generator=np.random.default_rng(0), **options)
    model = with_trained_statistics(model).to(dtype)
    bn_before = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    x = np.random.default_rng(1).random((4, 3, 32, 32)).astype(dtype)
    with mc.no_grad():
        expected = model(mc.tensor(x)).array
    folded = fold_batch_norm(model)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules()) == 0 < bn_before
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == bn_before  # the original is untouched
    net = InferenceModel(model)
    got = net(x)
    np.testing.assert_allclose(got.array, expected, atol=tolerance, rtol=tolerance)
    assert got.dtype == dtype
    assert got.requires_grad is False and got.is_leaf
    np.testing.assert_array_equal(net.predict(x, batch_size=3), expected.argmax(1))


def test_fold_by_hand_on_one_unit():
    # conv 1x1 of one channel with weight 2 and bias 1, BN mean 3, var 3, eps 1: s = gamma / 2
    conv, bn = nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1, eps=1.0)
    conv.weight.array[...] = 2.0
    conv.bias.array[...] = 1.0
    bn.running_mean.array[...] = 3.0
    bn.running_var.array[...] = 3.0
    bn.weight.array[...] = 4.0
    bn.bias.array[...] = 0.5
    folded = fold_batch_norm(nn.Sequential(conv, bn))
    # W' = 2 * 4 / 2 = 4; b' = (1 - 3) * 2 + 0.5 = -3.5
    assert folded[0].weight.array.item() == 4.0 and folded[0].bias.array.item() == -3.5
    assert isinstance(folded[1], nn.Identity)


def test_batch_norm_after_something_else_stays():
    model = nn.Sequential(nn.ReLU(), nn.BatchNorm2d(2), nn.Conv2d(2, 2, 1))
    assert isinstance(fold_batch_norm(model)[1], nn.BatchNorm2d)

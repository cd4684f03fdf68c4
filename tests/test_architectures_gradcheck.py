"""Every builder, at a reduced width and input size that keeps each of its block types
(projection and zero-padded shortcuts, concatenations, grouped convs, SE, LRN and contrast
normalisation, drop-path, auxiliary heads), passes minicnn.gradcheck in float64, directional
mode, over all its parameters and the input: in training mode (batch statistics, dropout and
drop-path masks replayed) and in evaluation mode (running statistics, scaled drop-path).
"""
import numpy as np
import pytest

from minicnn import GradcheckError, Tensor, gradcheck, nn, no_grad
from minicnn.architectures import available, build
from minicnn.functional import norm, shape
from minicnn.functional.dropout import MaskMultiply

# builder -> reduced options; the comment says what the reduction keeps.
REDUCED = {
    "lenet5": {},                                                            # full size
    "alexnet": {"width": 1 / 16, "input_size": 67},                          # LRN, overlapping pools
    "zfnet": {"width": 1 / 16, "input_size": 64},                            # contrast norm, ceil pools
    "vgg11": {"width": 1 / 16, "input_size": 32, "batch_norm": True},
    "vgg13": {"width": 1 / 16, "input_size": 32},
    "vgg16": {"width": 1 / 16, "input_size": 32},
    "vgg19": {"width": 1 / 16, "input_size": 32},
    "nin_cifar": {"width": 1 / 8},
    "googlenet": {"width": 1 / 16, "input_size": 96, "aux_logits": True},   # both aux heads
    "inception_v2": {"width": 1 / 16, "input_size": 64},                     # both grid reductions
    "inception_v3": {"width": 1 / 16, "input_size": 107},                    # aux head, 5 module types
    "inception_v4": {"width": 1 / 16, "input_size": 107},                    # 2x2 after Reduction-B
    "inception_resnet_v2": {"width": 1 / 16, "input_size": 107},             # scaled residuals
    "resnet18": {"width": 1 / 16, "input_size": 64},                         # projection shortcuts
    "resnet34": {"width": 1 / 16, "input_size": 64},
    "resnet50": {"width": 1 / 16, "input_size": 64, "stride_in_1x1": True},
    "resnet101": {"width": 1 / 16, "input_size": 64},
    "resnet152": {"width": 1 / 16, "input_size": 64},
    "se_resnet50": {"width": 1 / 8, "input_size": 64},                       # SE (hidden >= 1)
    "wide_resnet50_2": {"width": 1 / 16, "input_size": 64},
    "resnext50_32x4d": {"width": 1 / 16, "input_size": 64},                  # 32 groups
    "resnext101_32x8d": {"width": 1 / 16, "input_size": 64},
    "resnet_cifar": {"depth": 8, "width": 1 / 4},                            # option-A shortcuts
    "stochastic_depth_resnet_cifar": {"depth": 8, "width": 1 / 4},           # drop-path
    "preact_resnet_cifar": {"depth": 11, "width": 1 / 4},                    # preact bottleneck + 1x1
    "wide_resnet_cifar": {"depth": 10, "widen": 2, "width": 1 / 4, "dropout": 0.3},
    "densenet121": {"width": 1 / 8, "input_size": 32},
    "densenet169": {"width": 1 / 8, "input_size": 32},
    "densenet201": {"width": 1 / 8, "input_size": 32},
    "densenet_bc_cifar": {"depth": 10, "growth": 4},
}
# ImageNet ResNets get 64x64 inputs so that the last stage's maps are 2x2: training-mode batch
# norm over a 1x1 map of a batch of 2 normalises two numbers, which makes it nearly singular.
DEEP = {"resnet101", "resnet152", "resnext101_32x8d", "densenet169", "densenet201"}


def reduced_model(name, training):
    model = build(name, num_classes=3, generator=np.random.default_rng(0), **REDUCED[name]).double()
    x = Tensor(np.random.default_rng(1).standard_normal((2,) + model.input_shape), requires_grad=True)
    if not training:
        with no_grad():          # move the running statistics away from their 0 / 1 start
            model.train()
            replay_randomness(model)
            model(x)
        model.eval()
    return model, x


def replay_randomness(model, seed=0):
    """Give every dropout and drop-path layer the same fresh generator, so that each call of
    the model draws the same masks (finite differences need a deterministic function)."""
    generator = np.random.default_rng(seed)
    for module in model.modules():
        if isinstance(module, (nn.Dropout, nn.DropPath)):
            module.generator = generator


# ZFNet's activations are shrunk by the paper's N(0, 0.01^2) initialisation with zero biases, so
# even at eps=1e-8 a directional step crosses a few ReLU kinks and the difference quotient moves
# by about a per mille: checked to 1% (a missing term or a wrong index is off by far more).
LOOSE = {"zfnet": 1e-2}
# In training mode the 100+-layer ResNets' 33-50 bottlenecks of batch statistics amplify a step of
# the stem weights about a thousandfold (<grad, v> ~ 1e3-1e4), so even at eps=1e-8 a step crosses
# ReLU kinks and the difference quotient is off by 1-8%. It is kinks, not a wrong gradient: along
# one direction the quotient converges to the analytic value as eps shrinks (1e-5: 8% off, 1e-8:
# 0.04%, 1e-9: 5e-10). A step of 1e-10 crosses none, and float64 rounding (~1e-16 |L| / eps) is
# still 1e-6 of <grad, v>.
# Reduced Inception-v4 in training mode is the same (<grad, v> ~ 4e3; eps 1e-6: 14% off, 1e-8: 0.4%,
# 1e-9 and 1e-10 pass).
SMALL_STEP_IN_TRAINING = {"resnet101": 1e-10, "resnet152": 1e-10, "resnext101_32x8d": 1e-10,
                          "inception_v4": 1e-10}


def check(model, x, rtol=1e-3, eps=1e-8):
    """Directional gradcheck over the input and every parameter.

    eps=1e-8 rather than 1e-6: a directional step moves every parameter at once, so in a deep
    network some of its thousands of ReLU / max-pool inputs lying near a kink cross it, and the
    difference quotient of a piecewise-linear function then disagrees with its gradient by a
    few per mille. Crossings get rarer in proportion to eps, and float64 rounding (~1e-16 |L| /
    eps) stays far below the tolerance.
    """
    def fn(x):
        replay_randomness(model)
        return model(x)
    return gradcheck(fn, [x], params=list(model.named_parameters()), mode="directional", eps=eps,
                     rtol=rtol)


def test_every_builder_has_a_reduced_configuration():
    assert sorted(REDUCED) == available()


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", [n if n not in DEEP else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(REDUCED)])
def test_gradcheck(name, training):
    model, x = reduced_model(name, training)
    eps = SMALL_STEP_IN_TRAINING.get(name, 1e-8) if training else 1e-8
    assert check(model, x, rtol=LOOSE.get(name, 1e-3), eps=eps)


def test_reduced_copies_keep_the_randomness_they_test():
    """The training-mode checks really exercise masks: dropout, drop-path and aux heads act."""
    model, x = reduced_model("googlenet", training=True)
    with no_grad():
        replay_randomness(model, seed=0)
        first = model(x)
        replay_randomness(model, seed=1)
        second = model(x)
    assert len(first) == 3 and not np.allclose(first[0].array, second[0].array)
    model, x = reduced_model("stochastic_depth_resnet_cifar", training=True)
    assert any(isinstance(m, nn.DropPath) for m in model.modules())


def _broken(function, scale):
    """function.backward with the gradient of its first input scaled: a plausible slip."""
    original = function.backward

    def backward(ctx, *grads):
        first, *rest = original(ctx, *grads)
        return (None if first is None else first * scale, *rest)
    return staticmethod(backward)


@pytest.mark.parametrize("name, function", [
    ("googlenet", shape.Concatenate),                # Inception's concat
    ("densenet_bc_cifar", shape.Concatenate),        # DenseNet's concat
    ("resnet_cifar", norm.BatchNorm),                # BN inside residual blocks
    ("stochastic_depth_resnet_cifar", MaskMultiply),   # drop-path's mask
])
def test_gradcheck_catches_a_broken_block(monkeypatch, name, function):
    model, x = reduced_model(name, training=True)
    monkeypatch.setattr(function, "backward", _broken(function, 1.01))
    with pytest.raises(GradcheckError, match="directional"):
        check(model, x)

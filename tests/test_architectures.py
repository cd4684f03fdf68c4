"""The model zoo at full size: every published parameter count exactly, and finite float32
forward passes with the right output shapes; plus the builders' options and conventions.

Reference numbers are the published ones collected in issue 6 (torchvision's for the models it
ships; the papers' tables for the rest); trainable parameters only, BN running statistics are
buffers. Gradient checks at reduced size are in test_architectures_gradcheck.py.
"""
import numpy as np
import pytest

from minicnn import Tensor, nn, no_grad
from minicnn.architectures import available, build
from minicnn.architectures import vgg
from minicnn.architectures.resnet import ZeroPadShortcut

slow = pytest.mark.slow

# (builder, options, published trainable parameters); 1000 classes unless CIFAR / LeNet (10).
# slow: models of more than ~60M parameters, whose float32 construction alone takes seconds.
ROWS = [
    ("lenet5", {}, 61_706),
    pytest.param("alexnet", {}, 62_378_344, marks=slow),
    pytest.param("alexnet", {"groups": 2}, 60_965_224, marks=slow),
    pytest.param("zfnet", {}, 62_357_608, marks=slow),
    pytest.param("vgg11", {}, 132_863_336, marks=slow),
    pytest.param("vgg13", {}, 133_047_848, marks=slow),
    pytest.param("vgg16", {}, 138_357_544, marks=slow),
    pytest.param("vgg19", {}, 143_667_240, marks=slow),
    ("nin_cifar", {}, 966_986),
    ("googlenet", {}, 6_998_552),
    ("inception_v3", {}, 27_161_264),
    ("inception_v4", {}, 42_679_816),                 # issue 16's independent count
    ("inception_resnet_v2", {}, 55_843_464),
    ("resnet18", {}, 11_689_512),
    ("resnet34", {}, 21_797_672),
    ("resnet50", {}, 25_557_032),
    ("resnet101", {}, 44_549_160),
    pytest.param("resnet152", {}, 60_192_808, marks=slow),
    ("resnet_cifar", {"depth": 20}, 269_722),
    ("resnet_cifar", {"depth": 32}, 464_154),
    ("resnet_cifar", {"depth": 44}, 658_586),
    ("resnet_cifar", {"depth": 56}, 853_018),
    ("resnet_cifar", {"depth": 110}, 1_727_962),
    ("preact_resnet_cifar", {"depth": 164}, 1_703_258),
    ("se_resnet50", {}, 28_088_024),
    ("stochastic_depth_resnet_cifar", {"depth": 110}, 1_727_962),
    ("wide_resnet_cifar", {"depth": 28, "widen": 10}, 36_479_194),
    pytest.param("wide_resnet50_2", {}, 68_883_240, marks=slow),
    ("densenet121", {}, 7_978_856),
    ("densenet169", {}, 14_149_480),
    ("densenet201", {}, 20_013_928),
    ("densenet_bc_cifar", {"depth": 100, "growth": 12}, 769_162),
    ("resnext50_32x4d", {}, 25_028_904),
    pytest.param("resnext101_32x8d", {}, 88_791_336, marks=slow),
]


def trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name, options, expected", ROWS)
def test_published_parameter_count(name, options, expected):
    model = build(name, generator=np.random.default_rng(0), **options)
    assert trainable(model) == expected
    assert all(p.dtype == np.float32 for p in model.parameters())


# Full-size float32 forward passes of every builder at its default (paper) size, batch 1: the
# output shape and a finite result. The models of more than ~60M parameters take seconds to build.
LARGE = {"alexnet", "zfnet", "vgg11", "vgg13", "vgg16", "vgg19", "wide_resnet50_2", "resnext101_32x8d"}
FULL_SIZE = [pytest.param(name, {}, marks=slow) if name in LARGE else (name, {}) for name in available()]


@pytest.mark.parametrize("name, options", FULL_SIZE)
def test_full_size_forward_is_finite(name, options):
    model = build(name, generator=np.random.default_rng(0), **options).eval()
    x = Tensor(np.random.default_rng(1).standard_normal((1,) + model.input_shape).astype(np.float32))
    with no_grad():
        y = model(x)
        embedding = model.features(x)
    assert y.shape == (1, model.head.out_features if isinstance(model.head, nn.Linear) else 10)
    assert y.dtype == np.float32 and np.isfinite(y.array).all()
    assert embedding.shape[0] == 1 and np.isfinite(embedding.array).all()


def test_every_table_row_is_available():
    names = {row.values[0] if hasattr(row, "values") else row[0] for row in ROWS}
    assert names | {"inception_v2"} == set(available())
    assert available() == sorted(available())


def test_build_rejects_unknown_names_and_options():
    with pytest.raises(ValueError, match="unknown architecture 'resnet9'.*resnet18"):
        build("resnet9")
    with pytest.raises(TypeError, match="resnet_cifar has no option 'widen'.*depth"):
        build("resnet_cifar", widen=2)
    with pytest.raises(TypeError, match="depth is fixed by the name"):
        vgg.vgg16(depth=11)
    with pytest.raises(ValueError, match="depth must be 6n\\+2"):
        build("resnet_cifar", depth=21)
    with pytest.raises(ValueError, match="input_size is too small"):
        build("alexnet", input_size=32, width=1 / 16)
    with pytest.raises(ValueError, match="stride_in_1x1"):
        build("resnet18", stride_in_1x1=True)


def test_num_classes_and_generator_reproduce_a_model():
    a = build("resnet_cifar", num_classes=7, generator=np.random.default_rng(3))
    b = build("resnet_cifar", num_classes=7, generator=np.random.default_rng(3))
    assert a.head.out_features == 7
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.array, q.array, err_msg=name)


def test_he_initialisation_of_resnets():
    """He et al. 2015: conv weights N(0, 2 / fan_out) (torchvision's mode), BN weight 1, bias 0."""
    model = build("resnet50", generator=np.random.default_rng(0))
    conv = model.body.stage3[0].branch[3]            # the 3x3 of a bottleneck: 256 -> 256 ... fan_out 256 * 9
    assert conv.weight.shape[2:] == (3, 3)
    expected_std = np.sqrt(2.0 / (conv.weight.shape[0] * 9))
    assert abs(conv.weight.array.std() / expected_std - 1) < 0.02
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert (m.weight.array == 1).all() and (m.bias.array == 0).all()


def test_alexnet_initialisation_follows_the_paper():
    """Section 5: weights N(0, 0.01^2); biases 1 in conv2, conv4, conv5 and the hidden FCs."""
    model = build("alexnet", width=1 / 4, generator=np.random.default_rng(0))
    body = model.body
    assert abs(body.conv3.weight.array.std() - 0.01) < 5e-4
    for layer in (body.conv2, body.conv4, body.conv5, body.fc6, body.fc7):
        assert (layer.bias.array == 1).all()
    for layer in (body.conv1, body.conv3, model.head):
        assert (layer.bias.array == 0).all()


def test_stride_in_1x1_moves_the_stride_not_the_parameters():
    v1 = build("resnet50", stride_in_1x1=True, width=1 / 16, input_size=64)
    v15 = build("resnet50", width=1 / 16, input_size=64)
    assert trainable(v1) == trainable(v15)
    assert v1.body.stage2[0].branch[0].stride == (2, 2) and v1.body.stage2[0].branch[3].stride == (1, 1)
    assert v15.body.stage2[0].branch[0].stride == (1, 1) and v15.body.stage2[0].branch[3].stride == (2, 2)
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32))
    with no_grad():
        assert v1(x).shape == v15(x).shape == (2, 1000)


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    y = ZeroPadShortcut(8, 2)(Tensor(x)).array
    assert y.shape == (2, 8, 3, 3)
    np.testing.assert_array_equal(y[:, :3], x[:, :, 0::2, 0::2])
    assert (y[:, 3:] == 0).all()


def test_stochastic_depth_survival_decays_linearly_and_scales_in_eval():
    """Huang et al. eq. (4): p_l = 1 - l / L * (1 - p_L), l = 1..L, here L = 54, p_L = 0.5."""
    model = build("stochastic_depth_resnet_cifar", depth=110, width=1 / 4)
    drops = [m for m in model.modules() if isinstance(m, nn.DropPath)]
    expected = [1 - l / 54 * 0.5 for l in range(1, 55)]
    np.testing.assert_allclose([d.survival_prob for d in drops], expected)
    block = model.body.stage3[-1]
    x = Tensor(np.random.default_rng(0).standard_normal((2, 16, 8, 8)))
    block.double().eval()
    with no_grad():
        branch = block.branch(x).array
        out = block(x).array
    np.testing.assert_allclose(out, np.maximum(x.array + 0.5 * branch, 0), rtol=1e-12)


def test_auxiliary_classifiers_only_in_training():
    model = build("googlenet", aux_logits=True, width=1 / 16, input_size=96)
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 96, 96)).astype(np.float32))
    with no_grad():
        outputs = model(x)
        assert len(outputs) == 3 and all(o.shape == (2, 1000) for o in outputs)
        model.eval()
        assert model(x).shape == (2, 1000)
    assert trainable(build("googlenet", aux_logits=True)) == 6_998_552 + 2 * (
        (512 * 128 + 128) + (2048 * 1024 + 1024) + (1024 * 1000 + 1000)) + 16 * 128  # 4d has 528 inputs


def test_inception_v3_training_output_has_the_aux_logits():
    model = build("inception_v3", width=1 / 16)                   # full 299x299 grid
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 299, 299)).astype(np.float32))
    with no_grad():
        logits, aux = model(x)
    assert logits.shape == aux.shape == (2, 1000)
    assert np.isfinite(aux.array).all()


@pytest.mark.parametrize("name, options, shape", [
    ("lenet5", {}, (2, 84)),
    ("nin_cifar", {}, (2, 192, 8, 8)),
    ("resnet_cifar", {"depth": 20}, (2, 64)),
    ("densenet_bc_cifar", {}, (2, 342)),
    ("wide_resnet_cifar", {"depth": 10, "widen": 2}, (2, 128)),
    ("inception_v4", {"width": 1 / 16, "input_size": 75}, (2, 96)),
    ("inception_resnet_v2", {"width": 1 / 16, "input_size": 75}, (2, 96)),
])
def test_features_is_the_embedding_the_head_reads(name, options, shape):
    model = build(name, **options).eval()
    x = Tensor(np.random.default_rng(0).standard_normal((2,) + model.input_shape).astype(np.float32))
    with no_grad():
        embedding = model.features(x)
        assert embedding.shape == shape
        np.testing.assert_array_equal(model.head(embedding).array, model(x).array)


def test_width_keeps_the_topology():
    full, reduced = build("googlenet"), build("googlenet", width=1 / 8, input_size=112)
    kinds = [type(m).__name__ for m in full.modules()]
    assert kinds == [type(m).__name__ for m in reduced.modules()]


def test_inception_resnet_v2_residual_scales():
    """Blocks A, B, C scale their residuals by residual_scale; the last block C by 1 and
    without the ReLU after the addition, so its output (the input of the final unit) can be negative."""
    def scales(model):
        return {name.split(".")[1]: m.scale for name, m in model.named_modules() if type(m).__name__ == "Scale"}
    reduced = {"width": 1 / 16, "input_size": 75}
    default = scales(build("inception_resnet_v2", **reduced))
    assert len(default) == 40
    assert [default[f"block_a{i}"] for i in range(1, 11)] == [0.17] * 10
    assert [default[f"block_b{i}"] for i in range(1, 21)] == [0.10] * 20
    assert [default[f"block_c{i}"] for i in range(1, 11)] == [0.20] * 9 + [1.0]
    chosen = scales(build("inception_resnet_v2", residual_scale=(0.5, 0.25, 1), **reduced))
    assert (chosen["block_a3"], chosen["block_b7"], chosen["block_c2"], chosen["block_c10"]) == (0.5, 0.25, 1.0, 1.0)
    assert set(scales(build("inception_resnet_v2", residual_scale=0.3, **reduced)).values()) == {0.3, 1.0}
    model = build("inception_resnet_v2", **reduced).eval()
    assert model.body.block_c10.post_activation is None and model.body.block_c9.post_activation is not None
    x = Tensor(np.random.default_rng(0).standard_normal((2,) + model.input_shape).astype(np.float32))
    with no_grad():
        assert (model.body[:-3](x).array < 0).any()  # up to block_c10
    for bad in ((0.1, 0.2), "0.1", True, None):
        with pytest.raises(ValueError, match="inception_resnet_v2: residual_scale"):
            build("inception_resnet_v2", residual_scale=bad, **reduced)


@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v2"])
def test_inception_v4_family_input_size_limit(name):
    build(name, width=1 / 16, input_size=75)
    with pytest.raises(ValueError, match=f"{name}: input_size is too small"):
        build(name, width=1 / 16, input_size=74)

"""minicnn.summary against closed forms: the notes' AlexNet table, hand-derived receptive fields,
and branching models."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import nn


def alexnet_as_in_the_notes():
    """AlexNet in the layer order of the notes' cost table (architectures-costs.md): conv, pool, LRN."""
    g = np.random.default_rng(0)
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4, generator=g), nn.ReLU(), nn.MaxPool2d(3, 2), nn.LocalResponseNorm(5, k=2.0),
        nn.Conv2d(96, 256, 5, padding=2, generator=g), nn.ReLU(), nn.MaxPool2d(3, 2), nn.LocalResponseNorm(5, k=2.0),
        nn.Conv2d(256, 384, 3, padding=1, generator=g), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, generator=g), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, generator=g), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(9216, 4096, generator=g), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096, generator=g), nn.ReLU(), nn.Linear(4096, 1000, generator=g))


# The notes' table, row by row: (layer index in the Sequential, output shape, parameters, MACs).
# MACs: output positions x (kernel area x input channels) for conv, in x out for FC.
NOTES_ALEXNET = [
    (0, (96, 55, 55), 34_944, 55 * 55 * 96 * 11 * 11 * 3),
    (2, (96, 27, 27), 0, 0),
    (3, (96, 27, 27), 0, 0),
    (4, (256, 27, 27), 614_656, 27 * 27 * 256 * 5 * 5 * 96),
    (6, (256, 13, 13), 0, 0),
    (7, (256, 13, 13), 0, 0),
    (8, (384, 13, 13), 885_120, 13 * 13 * 384 * 3 * 3 * 256),
    (10, (384, 13, 13), 1_327_488, 13 * 13 * 384 * 3 * 3 * 384),
    (12, (256, 13, 13), 884_992, 13 * 13 * 256 * 3 * 3 * 384),
    (14, (256, 6, 6), 0, 0),
    (15, (9216,), 0, 0),
    (17, (4096,), 37_752_832, 9216 * 4096),
    (20, (4096,), 16_781_312, 4096 * 4096),
    (22, (1000,), 4_097_000, 4096 * 1000),
]


@pytest.fixture(scope="module")
def alexnet_summary():
    return mc.summary(alexnet_as_in_the_notes(), (3, 227, 227), verbose=False)


@pytest.mark.parametrize("index, shape, params, macs", NOTES_ALEXNET)
def test_alexnet_rows_match_the_notes(alexnet_summary, index, shape, params, macs):
    row = alexnet_summary.layer(str(index))
    assert row.output_shape == shape
    assert row.params == params
    assert row.macs == macs
    assert row.memory == int(np.prod(shape)) * 4  # float32 at batch 1


def test_alexnet_totals_with_the_corrected_parameter_sum(alexnet_summary):
    assert alexnet_summary.total_params == 62_378_344  # the notes' 61,378,344 is an addition slip
    assert alexnet_summary.trainable_params == 62_378_344
    assert alexnet_summary.total_macs == 1_135_256_096
    assert alexnet_summary.total_flops == 2 * 1_135_256_096
    assert alexnet_summary.param_memory == 62_378_344 * 4
    assert alexnet_summary.input_memory == 227 * 227 * 3 * 4


def test_alexnet_receptive_fields(alexnet_summary):
    # r_out = r_in + (k - 1) j_in, j_out = j_in s: conv1 11 (j 4), pool1 19 (j 8), conv2 51,
    # pool2 67 (j 16), conv3 99, conv4 131, conv5 163, pool5 195; FC sees the whole image.
    expected = {"0": 11, "2": 19, "4": 51, "6": 67, "8": 99, "10": 131, "12": 163, "14": 195, "17": 227}
    for name, field in expected.items():
        assert alexnet_summary.layer(name).receptive_field == (field, field), name


def test_table_prints_rows_and_totals(alexnet_summary, capsys):
    text = alexnet_summary.table()
    assert "62,378,344" in text and "1,135,256,096" in text and "LocalResponseNorm" in text
    mc.summary(nn.Sequential(nn.Linear(4, 3)), (4,))
    printed = capsys.readouterr().out
    assert "Total params: 15" in printed and "Linear" in printed


def test_vgg16_receptive_field_and_macs_of_the_conv_stack():
    # VGG-16's conv5_3 sees 196 pixels, pool5 212 (13 3x3 convs and 5 2x2/2 pools).
    layers, channels = [], 3
    for width, repeats in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]:
        for _ in range(repeats):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2, 2))
    s = mc.summary(nn.Sequential(*layers), (3, 64, 64), verbose=False)
    assert s.leaves()[-2].receptive_field == (196, 196)
    assert s.leaves()[-1].receptive_field == (212, 212)
    expected_macs = 0
    size, channels = 64, 3
    for width, repeats in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]:
        for _ in range(repeats):
            expected_macs += size * size * width * 9 * channels
            channels = width
        size //= 2
    assert s.total_macs == expected_macs


class TwoBranch(nn.Module):
    """An Inception-like block written with a functional concatenation in forward."""

    def __init__(self):
        super().__init__()
        self.small = nn.Conv2d(2, 3, 1)
        self.large = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 4, (1, 5), padding=(0, 2)))

    def forward(self, x):
        return mc.functional.cat([self.small(x), self.large(x)], 1)


def test_branches_nesting_and_rectangular_fields():
    model = nn.Sequential(TwoBranch(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(7, 2))
    s = mc.summary(model, (2, 9, 9), verbose=False)
    names = [(r.name, r.depth) for r in s.rows]
    assert names[:5] == [("0", 1), ("0.small", 2), ("0.large", 2), ("0.large.0", 3), ("0.large.1", 3)]
    block = s.layer("0")
    assert block.output_shape == (7, 9, 9) and not block.is_leaf
    assert block.params == (2 * 3 + 3) + (2 * 4 * 9 + 4) + (4 * 4 * 5 + 4)
    assert block.macs == 81 * 3 * 2 + 81 * 4 * 18 + 81 * 4 * 20
    assert s.layer("0.large.1").receptive_field == (3, 7)  # 3x3 then 1x5
    assert block.receptive_field == (3, 7)  # the larger branch wins
    assert s.layer("1").receptive_field == (9, 9)  # global pooling sees everything
    assert s.total_params == block.params + 7 * 2 + 2
    assert s.total_macs == block.macs + 14


def test_parameters_counted_once_and_buffers_not_counted():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.BatchNorm1d(3))
    s = mc.summary(model, (3,), verbose=False)
    assert s.total_params == 12 + 6  # BN: weight and bias; running statistics are buffers
    frozen = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    frozen[0].requires_grad_(False)
    s = mc.summary(frozen, (3,), verbose=False)
    assert s.total_params == 20 and s.trainable_params == 8


def test_mode_and_hooks_are_restored():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    model.train()
    mc.summary(model, (3,), verbose=False)
    assert all(m.training for m in model.modules())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_bad_arguments():
    with pytest.raises(TypeError, match="expected an nn.Module"):
        mc.summary(lambda x: x, (3,))
    with pytest.raises(ValueError, match="input_shape"):
        mc.summary(nn.Linear(3, 3), (0, 3))
    with pytest.raises(ValueError, match="mode must be"):
        mc.summary(nn.Linear(3, 3), (3,), mode="test")


# ---- the zoo's models against published figures ------------------------------------------------
from minicnn.architectures import build  # noqa: E402

ZOO_ALEXNET_NAMES = {0: "body.conv1", 2: "body.pool1", 3: "body.norm1", 4: "body.conv2", 6: "body.pool2",
                     7: "body.norm2", 8: "body.conv3", 10: "body.conv4", 12: "body.conv5", 14: "body.pool5",
                     15: "body.flatten", 17: "body.fc6", 20: "body.fc7", 22: "head"}


@pytest.fixture(scope="module")
def zoo_alexnet_summary():
    return mc.summary(build("alexnet", lrn_after_pool=True), (3, 227, 227), verbose=False)


@pytest.mark.parametrize("index, shape, params, macs", NOTES_ALEXNET)
def test_zoo_alexnet_reproduces_the_notes_table(zoo_alexnet_summary, index, shape, params, macs):
    row = zoo_alexnet_summary.layer(ZOO_ALEXNET_NAMES[index])
    assert (row.output_shape, row.params, row.macs) == (shape, params, macs)
    assert row.memory == int(np.prod(shape)) * 4


def test_zoo_alexnet_totals(zoo_alexnet_summary):
    assert zoo_alexnet_summary.total_params == 62_378_344
    assert zoo_alexnet_summary.total_macs == 1_135_256_096


def test_paper_order_alexnet_normalises_before_pooling():
    s = mc.summary(build("alexnet"), (3, 227, 227), verbose=False)
    assert s.layer("body.norm1").output_shape == (96, 55, 55)
    assert s.layer("body.norm2").output_shape == (256, 27, 27)
    assert (s.total_params, s.total_macs) == (62_378_344, 1_135_256_096)


def test_lenet5_macs():
    # C1 28*28*6*25 + C3 10*10*16*150 + C5 120*400 + F6 84*120 + output 10*84
    s = mc.summary(build("lenet5"), (1, 32, 32), verbose=False)
    assert s.total_macs == 416_520 == 117_600 + 240_000 + 48_000 + 10_080 + 840
    assert s.total_params == 61_706


def test_resnet50_gmacs():
    s = mc.summary(build("resnet50"), (3, 224, 224), verbose=False)
    assert round(s.total_macs / 1e9, 3) == 4.089
    assert s.total_params == 25_557_032


@pytest.mark.slow
def test_vgg16_gmacs():
    s = mc.summary(build("vgg16"), (3, 224, 224), verbose=False)
    assert round(s.total_macs / 1e9, 3) == 15.470
    assert s.total_params == 138_357_544


@pytest.mark.parametrize("name, shape", [("googlenet", (3, 224, 224)), ("densenet_bc_cifar", (3, 32, 32))])
def test_branching_models_show_nesting(name, shape):
    model = build(name)
    s = mc.summary(model, shape, verbose=False)
    assert s.total_params == sum(p.numel() for p in model.parameters())
    assert max(row.depth for row in s.rows) >= 3
    assert sum(row.macs for row in s.leaves()) == s.total_macs
    top = [row for row in s.rows if row.depth == 1]
    assert sum(row.params for row in top) == s.total_params  # nested rows add up


# ---- input_shape with or without the batch axis ----------------------------------------------------
def small_cnn():
    g = np.random.default_rng(0)
    return nn.Sequential(nn.ReLU(), nn.Conv2d(1, 4, 3, generator=g), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 10, generator=g))


def test_a_batched_input_shape_gives_the_per_sample_table():
    sample = mc.summary(small_cnn(), (1, 8, 8), verbose=False)
    for shape, batched in (((16, 1, 8, 8), None), ((16, 1, 8, 8), True), ((1, 8, 8), False)):
        s = mc.summary(small_cnn(), shape, batched=batched, verbose=False)
        assert s.input_shape == (1, 8, 8)
        assert s.table() == sample.table()
    assert sample.layer("1").output_shape == (4, 6, 6) and sample.total_macs == 36 * 9 * 4 + 144 * 10


def test_which_shape_is_wanted_is_said_exactly():
    with pytest.raises(ValueError, match=r"summary: the first layer, 1 \(Conv2d\), takes samples of 3 axes "
                                         r"\(4 with the batch axis\); input_shape \(8, 8\) has 2"):
        mc.summary(small_cnn(), (8, 8), verbose=False)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with pytest.raises(ValueError, match=r"cannot tell whether input_shape \(1, 8, 8\) starts with the batch axis "
                                         r"\(the first layer, 1 \(Linear\), takes any number of axes\); pass "
                                         r"batched=True if it is \(batch, \*sample shape\), batched=False"):
        mc.summary(mlp, (1, 8, 8), verbose=False)
    assert mc.summary(mlp, (1, 8, 8), batched=False, verbose=False).layer("1").output_shape == (10,)
    assert mc.summary(mlp, (5, 8, 8), batched=True, verbose=False).layer("1").output_shape == (10,)
    assert mc.summary(nn.Sequential(nn.Linear(64, 10)), (64,), verbose=False).total_macs == 640  # a sample
    with pytest.raises(ValueError, match=r"batched=True needs \(batch, \*sample shape\)"):
        mc.summary(nn.Linear(64, 10), (64,), batched=True, verbose=False)


def test_summary_of_a_lazy_model_creates_its_weights():
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.Flatten(), nn.LazyLinear(10))
    s = mc.summary(model, (2, 1, 8, 8), verbose=False)
    assert [row.type for row in s.rows] == ["Conv2d", "Flatten", "Linear"]
    assert s.total_params == (9 + 1) * 4 + (144 + 1) * 10


@pytest.mark.slow
@pytest.mark.parametrize("name, params, macs", [("inception_v4", 42_679_816, 12_253_974_624),
                                                ("inception_resnet_v2", 55_843_464, 13_155_794_016)])
def test_inception_v4_family_totals_and_nesting(name, params, macs):
    """Issue 16's counts, from an independent build of the same definitions."""
    s = mc.summary(build(name), (3, 299, 299), verbose=False)
    assert (s.total_params, s.total_macs) == (params, macs)
    assert max(row.depth for row in s.rows) >= 4          # block > branches > chain > unit > conv
    assert sum(row.macs for row in s.leaves()) == s.total_macs
    assert sum(row.params for row in s.rows if row.depth == 1) == s.total_params

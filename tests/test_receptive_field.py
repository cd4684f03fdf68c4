"""Receptive field, jump and start in minicnn.summary against values worked out by hand from
r_out = r_in + (k-1) d j_in, j_out = s j_in, start_out = start_in + ((k-1) d / 2 - p) j_in."""
import pytest

import minicnn as mc
from minicnn import nn
from minicnn.architectures import build


def fields(model, shape):
    s = mc.summary(model, shape, verbose=False)
    return [(row.receptive_field[0], row.jump[0], row.start[0]) for row in s.leaves()]


@pytest.mark.parametrize("count, field", [(1, 3), (2, 5), (3, 7)])
def test_stacked_3x3_see_as_far_as_one_larger_kernel(count, field):
    stacked = nn.Sequential(*[nn.Conv2d(1, 1, 3) for _ in range(count)])
    single = nn.Sequential(nn.Conv2d(1, 1, field))
    assert fields(stacked, (1, 16, 16))[-1] == (field, 1, (field - 1) // 2)
    assert fields(single, (1, 16, 16))[-1] == (field, 1, (field - 1) // 2)


def test_padding_stride_and_dilation_by_hand():
    # conv 3x3 pad 1: r 3, j 1, start 0 + (1 - 1) = 0; conv 3x3 stride 2 dilation 2 pad 0:
    # r 3 + 2*2*1 = 7, j 2, start 0 + (2 - 0) * 1 = 2; max-pool 2/2: r 7 + 1*2 = 9, j 4, start 2 + 0.5*2 = 3
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, stride=2, dilation=2),
                          nn.MaxPool2d(2, 2))
    assert fields(model, (1, 20, 20)) == [(3, 1, 0), (7, 2, 2), (9, 4, 3)]


def test_same_padding_and_even_kernels():
    # "same" 4x4 (pad 1 before, 2 after): start 0 + (1.5 - 1) = 0.5, a half-integer
    model = nn.Sequential(nn.Conv2d(1, 1, 4, padding="same"))
    assert fields(model, (1, 8, 8)) == [(4, 1, 0.5)]


def test_alexnet_conv5_and_pool5():
    # conv1 11/4: r 11, j 4, start 5; pool1 3/2: 19, 8, 9; conv2 5 pad 2: 51, 8, 9; pool2: 67, 16, 17;
    # conv3..5 3 pad 1: 99, 131, 163 with j 16, start 17; pool5: 195, 32, 33.
    s = mc.summary(build("alexnet", width=0.125), (3, 227, 227), verbose=False)
    conv5, pool5 = s.layer("body.conv5"), s.layer("body.pool5")
    assert (conv5.receptive_field, conv5.jump, conv5.start) == ((163, 163), (16, 16), (17, 17))
    assert (pool5.receptive_field, pool5.jump, pool5.start) == ((195, 195), (32, 32), (33, 33))


def test_vgg16_pool5():
    # 13 3x3 pad-1 convs and five 2x2/2 pools: r 212, j 32; each pool moves the start by j_in / 2:
    # 0.5 + 1 + 2 + 4 + 8 = 15.5.
    s = mc.summary(build("vgg16", width=0.0625, input_size=64), (3, 64, 64), verbose=False)
    pools = [row for row in s.leaves() if row.type == "MaxPool2d"]
    assert [row.receptive_field[0] for row in pools] == [6, 16, 44, 100, 212]
    assert pools[-1].jump == (32, 32) and pools[-1].start == (15.5, 15.5)


def test_table_has_jump_and_start_columns():
    text = mc.summary(nn.Sequential(nn.Conv2d(1, 1, 3, stride=2)), (1, 9, 9), verbose=False).table()
    assert "Jump" in text and "Start" in text

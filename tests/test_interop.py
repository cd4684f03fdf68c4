"""load_torch_state_dict on state dicts written here in torchvision's key naming and shapes
(from torchvision's module structure: models/resnet.py, vgg.py, densenet.py, inception.py, ...)."""
import re

import numpy as np
import pytest

from minicnn import architectures
from minicnn.interop import load_torch_state_dict


def bn(prefix, c):
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
            f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}


def resnet18_keys():
    keys = {"conv1.weight": (64, 3, 7, 7), **bn("bn1", 64)}
    cin = 64
    for stage, planes in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            p = f"layer{stage}.{block}"
            keys |= {f"{p}.conv1.weight": (planes, cin, 3, 3), **bn(f"{p}.bn1", planes),
                     f"{p}.conv2.weight": (planes, planes, 3, 3), **bn(f"{p}.bn2", planes)}
            if block == 0 and stage > 1:
                keys |= {f"{p}.downsample.0.weight": (planes, cin, 1, 1), **bn(f"{p}.downsample.1", planes)}
            cin = planes
    return keys | {"fc.weight": (1000, 512), "fc.bias": (1000,)}


def vgg11_keys(w):
    """torchvision's make_layers(cfg "A"): conv + ReLU per number, a max-pool per "M"; at width w."""
    keys, index, cin = {}, 0, 3
    for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
        if v == "M":
            index += 1
            continue
        keys |= {f"features.{index}.weight": (int(v * w), cin, 3, 3), f"features.{index}.bias": (int(v * w),)}
        cin, index = int(v * w), index + 2
    hidden = int(4096 * w)
    return keys | {"classifier.0.weight": (hidden, cin * 49), "classifier.0.bias": (hidden,),
                   "classifier.3.weight": (hidden, hidden), "classifier.3.bias": (hidden,),
                   "classifier.6.weight": (1000, hidden), "classifier.6.bias": (1000,)}


def densenet121_keys():
    keys = {"features.conv0.weight": (64, 3, 7, 7), **bn("features.norm0", 64)}
    c = 64
    for block, layers in enumerate((6, 12, 24, 16), start=1):
        for layer in range(1, layers + 1):
            p = f"features.denseblock{block}.denselayer{layer}"
            keys |= {**bn(f"{p}.norm1", c), f"{p}.conv1.weight": (128, c, 1, 1), **bn(f"{p}.norm2", 128),
                     f"{p}.conv2.weight": (32, 128, 3, 3)}
            c += 32
        if block < 4:
            keys |= {**bn(f"features.transition{block}.norm", c), f"features.transition{block}.conv.weight": (c // 2, c, 1, 1)}
            c //= 2
    return keys | bn("features.norm5", c) | {"classifier.weight": (1000, c), "classifier.bias": (1000,)}


def inception_v3_keys():
    keys = {}

    def conv(name, cout, cin, kh, kw=None):
        keys.update({f"{name}.conv.weight": (cout, cin, kh, kw or kh), **bn(f"{name}.bn", cout)})

    for name, cout, cin, k in (("Conv2d_1a_3x3", 32, 3, 3), ("Conv2d_2a_3x3", 32, 32, 3), ("Conv2d_2b_3x3", 64, 32, 3),
                               ("Conv2d_3b_1x1", 80, 64, 1), ("Conv2d_4a_3x3", 192, 80, 3)):
        conv(name, cout, cin, k)
    for name, cin, pool in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):  # InceptionA
        conv(f"{name}.branch1x1", 64, cin, 1)
        conv(f"{name}.branch5x5_1", 48, cin, 1)
        conv(f"{name}.branch5x5_2", 64, 48, 5)
        conv(f"{name}.branch3x3dbl_1", 64, cin, 1)
        conv(f"{name}.branch3x3dbl_2", 96, 64, 3)
        conv(f"{name}.branch3x3dbl_3", 96, 96, 3)
        conv(f"{name}.branch_pool", pool, cin, 1)
    conv("Mixed_6a.branch3x3", 384, 288, 3)  # InceptionB
    conv("Mixed_6a.branch3x3dbl_1", 64, 288, 1)
    conv("Mixed_6a.branch3x3dbl_2", 96, 64, 3)
    conv("Mixed_6a.branch3x3dbl_3", 96, 96, 3)
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):  # InceptionC
        conv(f"{name}.branch1x1", 192, 768, 1)
        conv(f"{name}.branch7x7_1", c7, 768, 1)
        conv(f"{name}.branch7x7_2", c7, c7, 1, 7)
        conv(f"{name}.branch7x7_3", 192, c7, 7, 1)
        conv(f"{name}.branch7x7dbl_1", c7, 768, 1)
        conv(f"{name}.branch7x7dbl_2", c7, c7, 7, 1)
        conv(f"{name}.branch7x7dbl_3", c7, c7, 1, 7)
        conv(f"{name}.branch7x7dbl_4", c7, c7, 7, 1)
        conv(f"{name}.branch7x7dbl_5", 192, c7, 1, 7)
        conv(f"{name}.branch_pool", 192, 768, 1)
    conv("AuxLogits.conv0", 128, 768, 1)  # registered between Mixed_6e and Mixed_7a
    conv("AuxLogits.conv1", 768, 128, 5)
    keys |= {"AuxLogits.fc.weight": (1000, 768), "AuxLogits.fc.bias": (1000,)}
    conv("Mixed_7a.branch3x3_1", 192, 768, 1)  # InceptionD
    conv("Mixed_7a.branch3x3_2", 320, 192, 3)
    conv("Mixed_7a.branch7x7x3_1", 192, 768, 1)
    conv("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7)
    conv("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1)
    conv("Mixed_7a.branch7x7x3_4", 192, 192, 3)
    for name, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):  # InceptionE
        conv(f"{name}.branch1x1", 320, cin, 1)
        conv(f"{name}.branch3x3_1", 384, cin, 1)
        conv(f"{name}.branch3x3_2a", 384, 384, 1, 3)
        conv(f"{name}.branch3x3_2b", 384, 384, 3, 1)
        conv(f"{name}.branch3x3dbl_1", 448, cin, 1)
        conv(f"{name}.branch3x3dbl_2", 384, 448, 3)
        conv(f"{name}.branch3x3dbl_3a", 384, 384, 1, 3)
        conv(f"{name}.branch3x3dbl_3b", 384, 384, 3, 1)
        conv(f"{name}.branch_pool", 192, cin, 1)
    return keys | {"fc.weight": (1000, 2048), "fc.bias": (1000,)}


def alexnet_keys():
    """torchvision's AlexNet (the "one weird trick" variant: 64-192-384-256-256 channels)."""
    shapes = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}
    keys = {}
    for i, s in shapes.items():
        keys |= {f"features.{i}.weight": s, f"features.{i}.bias": s[:1]}
    return keys | {"classifier.1.weight": (4096, 9216), "classifier.1.bias": (4096,), "classifier.4.weight": (4096, 4096),
                   "classifier.4.bias": (4096,), "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,)}


def googlenet_keys():
    """The start of torchvision's GoogLeNet: BasicConv2d = conv without bias + batch norm."""
    return {"conv1.conv.weight": (64, 3, 7, 7), **bn("conv1.bn", 64), "conv2.conv.weight": (64, 64, 1, 1), **bn("conv2.bn", 64)}


def distinct_values(keys):
    """A state dict whose every entry is recognisable: key number k fills its array with k + a fraction."""
    state = {}
    for k, (name, shape) in enumerate(keys.items()):
        if name.endswith("num_batches_tracked"):
            state[name] = np.array(k, np.int64)
        else:
            state[name] = (k + np.arange(int(np.prod(shape))).reshape(shape) / (10 * np.prod(shape) + 1)).astype(np.float32)
    return state


def resnet_rule(key):
    key = re.sub(r"^conv1\.", "body.stem.0.", key)
    key = re.sub(r"^bn1\.", "body.stem.1.", key)
    key = re.sub(r"^fc\.", "head.", key)
    m = re.match(r"layer(\d)\.(\d+)\.(conv1|bn1|conv2|bn2|downsample\.0|downsample\.1)\.(.*)", key)
    if m:
        part = {"conv1": "branch.0", "bn1": "branch.1", "conv2": "branch.3", "bn2": "branch.4",
                "downsample.0": "shortcut.0", "downsample.1": "shortcut.1"}[m[3]]
        key = f"body.stage{m[1]}.{m[2]}.{part}.{m[4]}"
    return key


def vgg_rule(key):
    convs = {0: "conv1_1", 3: "conv2_1", 6: "conv3_1", 8: "conv3_2", 11: "conv4_1", 13: "conv4_2", 16: "conv5_1", 18: "conv5_2"}
    m = re.match(r"features\.(\d+)\.(.*)", key)
    if m:
        return f"body.{convs[int(m[1])]}.{m[2]}"
    return re.sub(r"^classifier\.(\d)", lambda c: {"0": "body.fc6", "3": "body.fc7", "6": "head"}[c[1]], key)


def densenet_rule(key):
    key = key.replace("features.conv0.", "body.stem.0.").replace("features.norm0.", "body.stem.1.")
    key = key.replace("features.norm5.", "body.bn.").replace("classifier.", "head.")
    m = re.match(r"features\.denseblock(\d)\.denselayer(\d+)\.(norm1|conv1|norm2|conv2)\.(.*)", key)
    if m:
        return f"body.block{m[1]}.{int(m[2]) - 1}.1.{ {'norm1': 0, 'conv1': 2, 'norm2': 3, 'conv2': 5}[m[3]] }.{m[4]}"
    m = re.match(r"features\.transition(\d)\.(norm|conv)\.(.*)", key)
    return f"body.transition{m[1]}.{0 if m[2] == 'norm' else 2}.{m[3]}" if m else key


@pytest.mark.parametrize("arch, options, keys, rule", [
    ("resnet18", {}, resnet18_keys, resnet_rule),
    ("vgg11", dict(width=0.125), lambda: vgg11_keys(0.125), vgg_rule),
    ("densenet121", {}, densenet121_keys, densenet_rule)])
def test_every_value_lands_in_its_place(arch, options, keys, rule, tmp_path):
    state = distinct_values(keys())
    np.savez(tmp_path / "weights.npz", **state)
    model = architectures.build(arch, generator=np.random.default_rng(0), **options)
    missing, unexpected = load_torch_state_dict(model, tmp_path / "weights.npz")
    assert missing == [] and unexpected == []
    own = model.state_dict()
    assert sorted(rule(k) for k in state) == sorted(own)  # the test's own translation covers every key
    for key, value in state.items():
        np.testing.assert_array_equal(own[rule(key)], value, err_msg=key)


def test_inception_v3_with_its_auxiliary_classifier():
    state = distinct_values(inception_v3_keys())
    model = architectures.build("inception_v3", generator=np.random.default_rng(0))
    assert load_torch_state_dict(model, state) == ([], [])
    own = model.state_dict()
    assert len(own) == len(state)
    for torch_key, zoo_key in [("Conv2d_1a_3x3.conv.weight", "body.conv1a.conv.weight"),
                               ("Conv2d_4a_3x3.bn.running_var", "body.conv4a.bn.running_var"),
                               ("Mixed_5b.branch_pool.conv.weight", "body.mixed5b.3.1.conv.weight"),
                               ("Mixed_7c.branch3x3_2b.bn.bias", "body.mixed7c.1.1.1.bn.bias"),
                               ("Mixed_7c.branch3x3dbl_3a.conv.weight", "body.mixed7c.2.1.0.conv.weight"),
                               ("AuxLogits.conv0.conv.weight", "aux_heads.0.conv0.conv.weight"),
                               ("AuxLogits.fc.weight", "aux_heads.0.fc.weight"), ("fc.bias", "head.bias")]:
        np.testing.assert_array_equal(own[zoo_key], state[torch_key], err_msg=torch_key)


def test_extra_and_missing_keys_are_named():
    state = distinct_values(resnet18_keys())
    state["fc.extra"] = np.zeros(3, np.float32)
    del state["layer4.1.bn2.running_var"]
    model = architectures.build("resnet18")
    with pytest.raises(KeyError, match=r"1 torchvision keys have no place in the model \[fc\.extra \(3,\)\]; "
                                       r"1 model keys get no value \[body\.stage4\.1\.branch\.4\.running_var \(512,\)\]"):
        load_torch_state_dict(model, state)
    missing, unexpected = load_torch_state_dict(model, state, strict=False)
    assert unexpected == ["fc.extra"] and missing == ["body.stage4.1.branch.4.running_var"]
    np.testing.assert_array_equal(model.head.weight.array, state["fc.weight"])


@pytest.mark.parametrize("arch, keys, first", [
    ("alexnet", alexnet_keys, r"torchvision keys have no place in the model \[features\.0\.weight \(64, 3, 11, 11\)"),
    ("googlenet", googlenet_keys, r"torchvision keys have no place in the model \[conv1\.conv\.weight \(64, 3, 7, 7\), conv1\.bn\.weight")])
def test_zoo_models_laid_out_differently_from_torchvision_say_so(arch, keys, first):
    model = architectures.build(arch, width=0.25)
    with pytest.raises(KeyError, match=first):
        load_torch_state_dict(model, distinct_values(keys()))


def test_a_batch_norm_bias_never_fills_a_convolution_bias():
    # torchvision's GoogLeNet: conv (no bias) + BN; the zoo's: conv with bias, no BN
    model = architectures.build("googlenet")
    missing, unexpected = load_torch_state_dict(model, distinct_values(googlenet_keys()), strict=False)
    assert "conv1.bn.bias" in unexpected and "body.conv1.conv.bias" in missing
    np.testing.assert_array_equal(model.body.conv1.conv.weight.array, distinct_values(googlenet_keys())["conv1.conv.weight"])

"""Weights from elsewhere: load a torchvision state dict, saved as .npz, into a zoo model.

The zoo builders of ResNet (and ResNeXt, Wide ResNet-50-2), VGG, DenseNet and Inception v3 hold
the same layers as torchvision's, registered in the same order, under other names
(`layer1.0.conv1.weight` is `body.stage1.0.branch.0.weight`). So the keys are matched by
position: torchvision's list (its auxiliary classifier moved to the end, where the zoo keeps
aux_heads) is aligned with the model's state_dict by the longest common subsequence of
signatures: the last name part (weight, bias, running_mean, ...), the shape, and whether the
layer is a batch norm (has running statistics), so a convolution's bias never takes a norm's.
Keys that find no partner are named: the file's as unexpected, the model's as missing. AlexNet and GoogLeNet of the zoo follow their papers (AlexNet's 96-256-384-
384-256 channels, GoogLeNet without batch norm), not torchvision's variants, so their torchvision
weights do not fit: the error lists what does not match.

Saving torchvision weights without minicnn depending on torch (run where torch is installed):

    import numpy as np, torchvision
    sd = torchvision.models.resnet18(weights="DEFAULT").state_dict()
    np.savez("resnet18.npz", **{k: v.numpy() for k, v in sd.items()})

then `load_torch_state_dict(architectures.build("resnet18"), "resnet18.npz")`.
"""
from __future__ import annotations

import os

import numpy as np

AUXILIARY_PREFIXES = ("AuxLogits.", "aux1.", "aux2.")  # torchvision's Inception v3 and GoogLeNet


def _read(source) -> dict:
    if isinstance(source, dict):
        return {k: np.asarray(v) for k, v in source.items()}
    try:
        with np.load(os.fspath(source), allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as error:
        raise ValueError(f"load_torch_state_dict: cannot read {source} as an .npz of arrays: {error}") from error


def signatures(keys, shapes) -> list:
    """Per key: (its last name part, its shape, whether its module is a batch norm: has running
    statistics), so that a convolution's bias never pairs with a batch norm's."""
    norms = {key.rpartition(".")[0] for key in keys if key.endswith((".running_mean", ".running_var"))}
    return [(key.rpartition(".")[2], tuple(shape), key.rpartition(".")[0] in norms) for key, shape in zip(keys, shapes)]


def align(source_keys, source_shapes, target_keys, target_shapes):
    """Pairs (i, j) of the longest common subsequence of the two signature lists (dynamic
    programming over a len(source) x len(target) table)."""
    a, b = signatures(source_keys, source_shapes), signatures(target_keys, target_shapes)
    n, m = len(a), len(b)
    length = np.zeros((n + 1, m + 1), np.int32)
    for i in range(n - 1, -1, -1):
        row, below = length[i], length[i + 1]
        for j in range(m - 1, -1, -1):
            row[j] = below[j + 1] + 1 if a[i] == b[j] else max(below[j], row[j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j] and length[i, j] == length[i + 1, j + 1] + 1:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif length[i + 1, j] >= length[i, j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def torch_key_mapping(model, torch_state: dict) -> tuple:
    """(mapping torchvision key -> model key, unexpected torchvision keys, missing model keys)."""
    source = [k for k in torch_state if not k.startswith(AUXILIARY_PREFIXES)]
    source += [k for k in torch_state if k.startswith(AUXILIARY_PREFIXES)]
    own = model.state_dict()
    target = list(own)
    pairs = align(source, [np.shape(torch_state[k]) for k in source], target, [own[k].shape for k in target])
    mapping = {source[i]: target[j] for i, j in pairs}
    matched = set(mapping.values())
    return mapping, [k for k in source if k not in mapping], [k for k in target if k not in matched]


def load_torch_state_dict(model, npz_path, strict: bool = True):
    """Copy a torchvision state dict (an .npz of arrays, or a dict) into the zoo `model`.

    strict=True: any torchvision key without a place in the model, or model key without a value,
    is a KeyError naming them (with the shapes, which is usually what differs). Returns
    (missing_keys, unexpected_keys), the model's and the file's, as Module.load_state_dict.
    """
    state = _read(npz_path)
    mapping, unexpected, missing = torch_key_mapping(model, state)
    if strict and (missing or unexpected):
        own = model.state_dict()

        def listed(keys, shapes):
            shown = ", ".join(f"{k} {tuple(shapes[k].shape)}" for k in keys[:8])
            return shown + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")

        raise KeyError(f"load_torch_state_dict into {type(model).__name__}: "
                       f"{len(unexpected)} torchvision keys have no place in the model "
                       f"[{listed(unexpected, state)}]; {len(missing)} model keys get no value "
                       f"[{listed(missing, own)}]")
    model.load_state_dict({mapping[k]: state[k] for k in mapping}, strict=False)
    return missing, unexpected

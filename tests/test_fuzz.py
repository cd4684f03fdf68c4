"""A seeded fuzz of malformed calls: every public op of minicnn.functional (and the main layers'
constructors and forwards) called with one argument of a known-valid call replaced by a bad value
of its kind. Each call must end in a ValueError or TypeError (a MemoryError for a size that
cannot fit) whose message names the op: never an opaque NumPy or Numba error, never a result.

The valid calls are checked to run first, so a "malformed" call is malformed by construction:
it differs from a valid one in exactly one argument, by a value that argument's kind refuses.
"""
import math
from collections import defaultdict

import numpy as np
import pytest

from minicnn import functional as F
from minicnn import nn

SEED, CALLS = 0, 2000
HELPERS = {"index_arrays"}  # public in minicnn.functional for Tensor.__getitem__, but not an op


def floats(*shape, dtype=np.float32):
    return np.random.default_rng(len(shape)).standard_normal(shape).astype(dtype)


def ragged():
    """A nested list NumPy cannot make an array of."""
    return [[1.0], [1.0, 2.0]]


# ---- bad values per kind of argument ------------------------------------------------------------
# Each entry maps a valid value to a list of bad ones; the label is quoted when a call fails.
def any_object(valid):
    """Values no tensor argument accepts."""
    return {"None": None, "a string": "abc", "a string array": np.array(["a", "b"]),
            "an object array": np.array([object(), object()], dtype=object), "a ragged list": ragged()}


def float_input(valid):
    """A tensor of an op that takes float32/float64 only (Numba kernels, dropout, norms)."""
    bad = any_object(valid)
    for dtype in (np.float16, np.longdouble, np.int64, np.bool_, np.complex64):
        bad[f"a {np.dtype(dtype)} array"] = valid.astype(dtype)
    return bad


def ranked_input(valid):
    """A float tensor of a few ranks only: also a 1-D one."""
    bad = float_input(valid)
    bad["a 1-D array"] = valid.reshape(-1)
    return bad


def spatial_input(valid):
    """A (N, C, *spatial) tensor: also the wrong rank and an empty non-batch axis."""
    bad = ranked_input(valid)
    bad["one more axis"] = valid[None]
    bad["no channels"] = np.zeros((valid.shape[0], 0) + valid.shape[2:], valid.dtype)
    bad["an empty spatial axis"] = np.zeros(valid.shape[:-1] + (0,), valid.dtype)
    return bad


def weight(valid):
    bad = float_input(valid)
    bad["one more axis"] = valid[None]
    bad["mismatched channels"] = np.ones((valid.shape[0], valid.shape[1] + 1) + valid.shape[2:], valid.dtype)
    return bad


def bias(valid):
    if valid is None:  # an optional bias of an op called without one
        return {"a string": "abc", "a wrong shape": np.ones(7, np.float32), "an int array": np.ones(7, np.int64)}
    return {"a string": "abc", "the wrong length": np.ones(len(valid) + 1, valid.dtype),
            "an int array": valid.astype(np.int64), "a 2-D bias": valid[None], "float16": valid.astype(np.float16)}


def per_axis(valid, extra=()):
    """kernel_size, stride, dilation: a positive int or a tuple of one per spatial axis."""
    n = len(valid) if isinstance(valid, tuple) else 1
    bad = {"a float": 2.5, "True": True, "zero": 0, "negative": -1, "a string": "2", "NaN": math.nan,
           "four entries": (1,) * 4, "floats in a tuple": (1.5,) * n, "a dict": {1: 1}}
    bad.update(extra)
    return bad


def window(valid):
    """kernel_size or dilation: also too large for the input."""
    return per_axis(valid, {"huge": 10 ** 9})


def conv_padding(valid):
    return {"negative": -1, "a float": 0.5, "an unknown mode": "half", "True": True, "None": None, "huge": 10 ** 9,
            "one entry too many": (1, 1, 1, 1), "a negative pair": ((0, -1),) * 2}


def layer_padding(valid):
    """A conv layer's padding, checked when the layer is built: a huge one is fine until it meets an input."""
    bad = conv_padding(valid)
    del bad["huge"]
    return bad


def pool_padding(valid):
    return {"negative": -1, "a float": 0.5, "True": True, "more than half the kernel": 10 ** 6, "a mode": "same"}


def output_padding(valid):
    """conv_transpose2d's output_padding: from 0 to below max(stride, dilation)."""
    return {"negative": -1, "a float": 0.5, "True": True, "a string": "1", "not below stride and dilation": 2}


def divisor(valid):
    """avg_pool's divisor_override: a positive int (None is valid)."""
    return {"zero": 0, "negative": -1, "a float": 2.5, "True": True, "a string": "3"}


def groups(valid):
    return {"zero": 0, "negative": -1, "a float": 2.0, "True": True, "None": None, "a non-divisor": 3}


def probability(valid):
    return {"None": None, "negative": -0.1, "above 1": 1.5, "NaN": math.nan, "a string": "0.5", "True": True}


def algorithm(valid):
    return {"an unknown name": "magic", "None": None, "an int": 3}


def output_size(valid):
    return {"zero": 0, "negative": -1, "a float": 2.5, "True": True, "a string": "2", "one entry too many": (1,) * 4}


def positive_int(valid):
    return {"zero": 0, "negative": -1, "a float": 2.5, "True": True, "None": None, "a string": "3"}


def axis(valid):
    return {"a float": 0.5, "out of range": 10, "a string": "a", "a repeated axis": (0, 0)}


def count(valid):
    """topk's k, one_hot's num_classes: a non-negative int that fits the input."""
    return {"negative": -2, "a float": 2.5, "True": True, "None": None, "a string": "3", "too large": 100}


def classes(valid):
    """one_hot's num_classes: -1 (infer) or more than the largest index."""
    return {"negative": -2, "a float": 2.5, "True": True, "None": None, "a string": "3", "too small": 2}


def number(valid):
    """A real number (a slope, a threshold, a norm's p, an eps)."""
    return {"None": None, "a string": "1", "a list": [1.0], "a complex": 1j}


def non_negative(valid):
    """eps: a non-negative number."""
    return {**number(valid), "negative": -1.0, "NaN": math.nan}


def option(valid):
    """A mode or option spelled as a string."""
    return {"an unknown name": "magic", "None": None, "an int": 3}


def shape(valid):
    """layer_norm's normalized_shape: an int or tuple matching the input's last axes."""
    return {"a float": 9.0, "a string": "9", "None": None, "mismatched": (8,), "zero": 0, "negative": -9}


def matrices(valid):
    """An operand of mm/bmm: also one axis fewer or more, and an inner size that does not match."""
    return {**any_object(valid), "one axis fewer": valid[0], "one more axis": valid[None],
            "a mismatched inner size": np.ones(valid.shape[:-2] + (7, 7), valid.dtype)}


def indices(valid):
    """Class indices (one_hot): integers in [0, num_classes)."""
    return {**any_object(valid), "a float array": valid.astype(np.float32), "negative": -valid - 1,
            "too large": valid + 100}


# ---- known-valid calls ----------------------------------------------------------------------------
X1, X2, X3 = floats(2, 4, 9), floats(2, 4, 9, 9), floats(2, 4, 5, 6, 7)
W1, W2, W3 = floats(4, 4, 3), floats(4, 4, 3, 3), floats(4, 4, 3, 3, 3)
B = floats(4)
LABELS = (floats(3, 5) > 0).astype(np.float32)


class Case:
    """A valid call op(*args) and the kind of each argument; `names` are the names a message
    may start with (the op, or for a layer the layer or the op it calls)."""

    def __init__(self, op, function, args, kinds, names=None):
        self.op, self.function, self.args, self.kinds = op, function, args, kinds
        self.names = names or (op,)


def conv_case(op, function, x, w, dims):
    return Case(op, function, [x, w, B, 1, 1, 1, 1, "auto"],
                [spatial_input, weight, bias, per_axis, conv_padding, window, groups, algorithm])


def pool_case(op, function, x, extra=(), extra_kinds=()):
    return Case(op, function, [x, 2, None, 0, *extra], [spatial_input, window, per_axis, pool_padding, *extra_kinds])


CASES = [
    conv_case("conv1d", F.conv1d, X1, W1, 1),
    conv_case("conv2d", F.conv2d, X2, W2, 2),
    conv_case("conv3d", F.conv3d, X3, W3, 3),
    Case("conv_transpose2d", F.conv_transpose2d, [X2, W2, B, 2, 1, 1, 1, 1, "auto"],
         [spatial_input, weight, bias, per_axis, conv_padding, output_padding, groups, window, algorithm]),
    Case("local_conv2d", F.local_conv2d, [X2, floats(7, 7, 3, 4, 3, 3), None, 1, 0, 1],
         [spatial_input, float_input, bias, per_axis, conv_padding, window]),
    Case("tiled_conv2d", F.tiled_conv2d, [X2, floats(2, 2, 3, 4, 3, 3), None, 1, 0, 1, (2, 2)],
         [spatial_input, float_input, bias, per_axis, conv_padding, window, per_axis]),
    Case("separable_conv2d", F.separable_conv2d, [X2, floats(4, 4, 3), floats(4, 4, 3), B, 1, 1, 1, 1],
         [spatial_input, float_input, float_input, bias, per_axis, conv_padding, window, groups]),
    Case("low_rank_conv2d", F.low_rank_conv2d, [X2, W2, 1, B, 1, 1, 1, 1],
         [spatial_input, weight, positive_int, bias, per_axis, conv_padding, window, groups]),
    Case("depthwise_separable_conv2d", F.depthwise_separable_conv2d,
         [X2, floats(4, 1, 3, 3), floats(5, 4, 1, 1), B, floats(5), 1, 1, 1],
         [spatial_input, float_input, float_input, bias, bias, per_axis, conv_padding, window],
         names=("depthwise_separable_conv2d", "conv2d")),
    pool_case("max_pool1d", F.max_pool1d, X1, [1], [window]),
    pool_case("max_pool2d", F.max_pool2d, X2, [1], [window]),
    pool_case("max_pool3d", F.max_pool3d, X3, [1], [window]),
    pool_case("avg_pool1d", F.avg_pool1d, X1),
    pool_case("avg_pool2d", F.avg_pool2d, X2, [False, True, None], [None, None, divisor]),
    pool_case("avg_pool3d", F.avg_pool3d, X3),
    Case("adaptive_avg_pool1d", F.adaptive_avg_pool1d, [X1, 3], [spatial_input, output_size]),
    Case("adaptive_avg_pool2d", F.adaptive_avg_pool2d, [X2, (3, 2)], [spatial_input, output_size]),
    Case("adaptive_avg_pool3d", F.adaptive_avg_pool3d, [X3, 2], [spatial_input, output_size]),
    Case("adaptive_max_pool1d", F.adaptive_max_pool1d, [X1, 3], [spatial_input, output_size]),
    Case("adaptive_max_pool2d", F.adaptive_max_pool2d, [X2, 3], [spatial_input, output_size]),
    Case("adaptive_max_pool3d", F.adaptive_max_pool3d, [X3, 2], [spatial_input, output_size]),
    Case("global_avg_pool2d", F.global_avg_pool2d, [X2], [spatial_input]),
    *[Case(f"max_unpool{dims}d", getattr(F, f"max_unpool{dims}d"),
           [floats(2, 4, *(3,) * dims), np.zeros((2, 4) + (3,) * dims, np.int64), 2, None, 0],
           [spatial_input, any_object, window, per_axis, pool_padding]) for dims in (1, 2, 3)],
    Case("dropout", F.dropout, [X2, 0.5], [float_input, probability]),
    Case("dropout2d", F.dropout2d, [X2, 0.5], [ranked_input, probability]),
    Case("drop_path", F.drop_path, [X2, 0.5], [float_input, probability]),
    Case("batch_norm", F.batch_norm, [X2, floats(4), np.ones(4, np.float32), B, B, True, 0.1, 1e-5],
         [spatial_input, bias, bias, bias, bias, None, probability, None]),
    Case("local_response_norm", F.local_response_norm, [X2, 3], [ranked_input, positive_int]),
    Case("local_contrast_norm", F.local_contrast_norm, [X2, 3], [ranked_input, positive_int]),
    Case("linear", F.linear, [floats(3, 4), floats(5, 4), floats(5)], [float_input, weight, bias]),
    # ops of other modules: only values no op of theirs accepts
    *[Case(name, getattr(F, name), [X2], [any_object]) for name in
      ("relu", "sigmoid", "tanh", "elu", "leaky_relu", "hardsigmoid", "neg", "abs", "exp", "sqrt", "log")],
    Case("softmax", F.softmax, [X2, 1], [any_object, axis]),
    Case("log_softmax", F.log_softmax, [X2, 1], [any_object, axis]),
    *[Case(name, getattr(F, name), [X2, X2], [any_object, any_object]) for name in ("add", "sub", "mul", "div")],
    *[Case(name, getattr(F, name), [X2, 1], [any_object, axis]) for name in ("sum", "mean", "max", "min")],
    Case("mse_loss", F.mse_loss, [X2, X2], [any_object, any_object]),
    Case("cross_entropy", F.cross_entropy, [floats(3, 5), np.array([0, 1, 4])], [any_object, any_object]),
    Case("nll_loss", F.nll_loss, [floats(3, 5), np.array([0, 1, 4])], [any_object, any_object]),
    Case("flatten", F.flatten, [X2, 1], [any_object, axis]),
    Case("pad", F.pad, [X2, (1, 1)], [any_object, None]),
    Case("matmul", F.matmul, [X2, X2], [any_object, any_object]),
    Case("pow", F.pow, [X2, 2.0], [any_object, None]),
    *[Case(name, getattr(F, name), [X2, -1.0, 1.0], [any_object, None, None], names=(name, "clamp"))
      for name in ("clamp", "clip")],  # clip is clamp's other name
    Case("cat", F.cat, [[X2, X2], 1], [any_object, axis]),
    Case("stack", F.stack, [[X2, X2], 1], [any_object, axis]),
    Case("split", F.split, [X2, 1, 1], [any_object, None, axis]),
    Case("transpose", F.transpose, [X2, 0, 1], [any_object, None, None]),
    Case("permute", F.permute, [X2, (0, 1, 3, 2)], [any_object, None]),
    Case("reshape", F.reshape, [X2, (2, -1)], [any_object, None]),
    Case("squeeze", F.squeeze, [X2, 0], [any_object, None]),
    Case("unsqueeze", F.unsqueeze, [X2, 0], [any_object, None]),
    Case("getitem", F.getitem, [X2, 0], [any_object, None]),
    Case("where", F.where, [X2 > 0, X2, X2], [None, any_object, any_object]),
    Case("cast", F.cast, [X2, np.float64], [any_object, None]),
    Case("conv_transpose1d", F.conv_transpose1d, [X1, W1, B, 2, 1, 1, 1, 1, "auto"],
         [spatial_input, weight, bias, per_axis, conv_padding, output_padding, groups, window, algorithm]),
    Case("conv_transpose3d", F.conv_transpose3d, [X3, W3, B, 2, 1, 1, 1, 1, "auto"],
         [spatial_input, weight, bias, per_axis, conv_padding, output_padding, groups, window, algorithm]),
    Case("unfold", F.unfold, [X2, 3, 1, 0, 1], [spatial_input, window, window, conv_padding, per_axis]),
    Case("fold", F.fold, [floats(2, 36, 49), (9, 9), 3, 1, 0, 1],
         [float_input, output_size, window, window, conv_padding, per_axis]),
    Case("interpolate", F.interpolate, [X2, (4, 5), None, "nearest"], [spatial_input, output_size, None, option]),
    Case("layer_norm", F.layer_norm, [X2, (9,), floats(9), floats(9), 1e-5],
         [float_input, shape, bias, bias, non_negative]),
    Case("group_norm", F.group_norm, [X2, 2, floats(4), floats(4), 1e-5],
         [ranked_input, positive_int, bias, bias, non_negative]),
    Case("normalize", F.normalize, [X2, 2.0, 1, 1e-12], [float_input, non_negative, axis, non_negative]),
    *[Case(name, getattr(F, name), [X2], [any_object]) for name in ("relu6", "hardswish", "silu")],
    Case("gelu", F.gelu, [X2, "none"], [any_object, option]),
    Case("softplus", F.softplus, [X2, 1.0, 20.0], [any_object, number, number]),
    *[Case(name, getattr(F, name), [X2, X2], [any_object, any_object]) for name in ("maximum", "minimum")],
    *[Case(name, getattr(F, name), [X2, 1], [any_object, axis]) for name in ("amax", "amin", "argmax", "argmin",
                                                                               "sort")],
    *[Case(name, getattr(F, name), [X2 > 0, 1], [any_object, axis]) for name in ("all", "any")],
    Case("topk", F.topk, [X2, 2, 1], [any_object, count, axis]),
    Case("one_hot", F.one_hot, [np.array([0, 1, 4]), 5], [indices, classes]),
    *[Case(name, getattr(F, name), [X2, X2], [any_object, any_object]) for name in ("l1_loss", "smooth_l1_loss")],
    Case("binary_cross_entropy", F.binary_cross_entropy, [np.full((3, 5), 0.5, np.float32), LABELS],
         [any_object, any_object]),
    Case("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, [floats(3, 5), LABELS],
         [any_object, any_object]),
    Case("setitem", F.setitem, [X2, 0, 1.0], [any_object, None, any_object]),
    Case("mm", F.mm, [floats(3, 4), floats(4, 5)], [matrices, matrices]),
    Case("bmm", F.bmm, [floats(2, 3, 4), floats(2, 4, 5)], [matrices, matrices]),
    *[Case(name, getattr(F, name), [X2, 1, None, False], [float_input, axis, None, None])
      for name in ("var", "std", "var_mean", "std_mean")],
    Case("vector_norm", F.vector_norm, [X2, 2.0, 1], [float_input, number, axis]),
    # layers: constructors, and forwards with a bad input
    Case("Conv2d", nn.Conv2d, [4, 4, 3, 1, 1], [positive_int, positive_int, window, per_axis, layer_padding]),
    Case("MaxPool2d", lambda *a: nn.MaxPool2d(*a)(X2), [2, None, 0], [window, per_axis, pool_padding],
         names=("MaxPool2d", "max_pool2d")),
    Case("Dropout", nn.Dropout, [0.5], [probability]),
    Case("BatchNorm2d", nn.BatchNorm2d, [4], [positive_int]),
    Case("Linear", nn.Linear, [4, 5], [positive_int, positive_int]),
    Case("LayerNorm", nn.LayerNorm, [9, 1e-5], [positive_int, non_negative]),
    Case("GroupNorm", nn.GroupNorm, [2, 4, 1e-5], [positive_int, positive_int, non_negative]),
    *[Case(f"ConvTranspose{dims}d", getattr(nn, f"ConvTranspose{dims}d"), [4, 4, 3, 2, 1, 1],
           [positive_int, positive_int, window, per_axis, layer_padding, output_padding]) for dims in (1, 2, 3)],
    Case("Upsample", lambda *a: nn.Upsample(*a)(X2), [(4, 5), None, "nearest"], [output_size, None, option],
         names=("Upsample", "interpolate")),
    Case("Unfold", lambda *a: nn.Unfold(*a)(X2), [3, 1, 0, 1], [window, window, conv_padding, per_axis],
         names=("Unfold", "unfold")),
    Case("Conv2d.forward", lambda x: nn.Conv2d(4, 4, 3)(x), [X2], [spatial_input], names=("Conv2d", "conv2d")),
    Case("MaxPool2d.forward", lambda x: nn.MaxPool2d(2)(x), [X2], [spatial_input], names=("MaxPool2d", "max_pool2d")),
    Case("BatchNorm2d.forward", lambda x: nn.BatchNorm2d(4)(x), [X2], [spatial_input],
         names=("BatchNorm2d", "batch_norm")),
    Case("Linear.forward", lambda x: nn.Linear(9, 2)(x), [X2], [float_input], names=("Linear", "linear")),
]
CASE = {case.op: case for case in CASES}


def malformed_calls():
    """CALLS seeded draws (op, argument position, label of the bad value), grouped by op."""
    rng = np.random.default_rng(SEED)
    calls = defaultdict(list)
    for _ in range(CALLS):
        case = CASES[rng.integers(len(CASES))]
        positions = [i for i, kind in enumerate(case.kinds) if kind is not None]
        position = positions[rng.integers(len(positions))]
        labels = sorted(case.kinds[position](case.args[position]))
        calls[case.op].append((position, labels[rng.integers(len(labels))]))
    return calls


MALFORMED = malformed_calls()


def test_the_fuzz_makes_enough_calls_over_every_public_op():
    assert sum(map(len, MALFORMED.values())) >= 1000
    public = {name for name in F.__dict__ if callable(F.__dict__[name]) and not name.startswith("_")
              and not isinstance(F.__dict__[name], type(F))} - HELPERS
    assert public <= set(CASE), f"public ops the fuzz does not call: {sorted(public - set(CASE))}"


@pytest.mark.parametrize("op", sorted(CASE))
def test_the_valid_call_runs(op):
    case = CASE[op]
    case.function(*case.args)


@pytest.mark.parametrize("op", sorted(MALFORMED))
def test_malformed_calls_end_in_an_error_naming_the_op(op):
    case = CASE[op]
    failures = []
    for position, label in MALFORMED[op]:
        args = list(case.args)
        args[position] = case.kinds[position](case.args[position])[label]
        what = f"argument {position} = {label}"
        try:
            case.function(*args)
        except (ValueError, TypeError, MemoryError) as error:
            if not str(error).startswith(case.names):
                failures.append(f"{what}: {type(error).__name__}: {error}"[:200])
        except Exception as error:  # noqa: BLE001 - the point is to catch what should not happen
            failures.append(f"{what}: {type(error).__name__}: {error}"[:200])
        else:
            failures.append(f"{what}: no error")
    assert not failures, f"{op}: " + "\n".join(sorted(set(failures)))

"""One vocabulary with PyTorch: the ops' argument names are torch's, so the keyword calls a learner
copies from PyTorch's documentation (F.relu(input=x), torch.add(input=x, other=y)) work here and
give what the positional call gives. The expected names below are copied from PyTorch's signatures."""
import inspect

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import nn
from minicnn.testing import assert_gradcheck

# The first argument of an op is `input` except where torch names it otherwise.
FIRST_ARGUMENT = {"cat": "tensors", "stack": "tensors", "split": "tensor", "one_hot": "tensor",
                  "where": "condition"}
HELPERS = {"index_arrays"}  # public for Tensor.__getitem__, not an op

# torch's leading parameter names (torch.X or torch.nn.functional.X), in order.
TORCH_NAMES = {
    "add": ["input", "other", "alpha"], "sub": ["input", "other", "alpha"], "mul": ["input", "other"],
    "div": ["input", "other"], "pow": ["input", "exponent"], "matmul": ["input", "other"],
    "mm": ["input", "mat2"], "bmm": ["input", "mat2"], "maximum": ["input", "other"],
    "minimum": ["input", "other"], "where": ["condition", "input", "other"],
    "clamp": ["input", "min", "max"], "squeeze": ["input", "dim"], "unsqueeze": ["input", "dim"],
    "transpose": ["input", "dim0", "dim1"], "flatten": ["input", "start_dim", "end_dim"],
    "split": ["tensor", "split_size_or_sections", "dim"], "cat": ["tensors", "dim"],
    "stack": ["tensors", "dim"], "pad": ["input", "pad", "mode", "value"],
    "softmax": ["input", "dim"], "log_softmax": ["input", "dim"], "relu": ["input", "inplace"],
    "leaky_relu": ["input", "negative_slope", "inplace"], "elu": ["input", "alpha", "inplace"],
    "hardsigmoid": ["input", "inplace"], "relu6": ["input", "inplace"], "hardswish": ["input", "inplace"],
    "silu": ["input", "inplace"], "gelu": ["input", "approximate"],
    "softplus": ["input", "beta", "threshold"],
    "sum": ["input", "dim", "keepdim"], "mean": ["input", "dim", "keepdim"], "amax": ["input", "dim", "keepdim"],
    "max": ["input", "dim", "keepdim"], "argmax": ["input", "dim", "keepdim"],
    "sort": ["input", "dim", "descending"], "topk": ["input", "k", "dim", "largest", "sorted"],
    "var": ["input", "dim", "unbiased", "keepdim", "correction"],
    "std": ["input", "dim", "unbiased", "keepdim", "correction"],
    "var_mean": ["input", "dim", "unbiased", "keepdim", "correction"],
    "vector_norm": ["input", "ord", "dim", "keepdim"],
}


def public_ops():
    return sorted(name for name, value in vars(F).items() if callable(value) and not name.startswith("_")
                  and not inspect.ismodule(value) and name not in HELPERS)


@pytest.mark.parametrize("name", public_ops())
def test_the_first_argument_has_torchs_name(name):
    first = next(iter(inspect.signature(getattr(F, name)).parameters))
    assert first == FIRST_ARGUMENT.get(name, "input")


@pytest.mark.parametrize("name", sorted(TORCH_NAMES))
def test_the_leading_arguments_are_torchs(name):
    names = list(inspect.signature(getattr(F, name)).parameters)
    assert names[:len(TORCH_NAMES[name])] == TORCH_NAMES[name]


def test_norm_has_torchs_names():
    for function in (mc.norm, mc.Tensor.norm):
        names = list(inspect.signature(function).parameters)
        assert names[-3:] == ["p", "dim", "keepdim"]


X = np.arange(6, dtype=np.float64).reshape(2, 3) - 2.5
Y = np.linspace(-1.0, 1.0, 6).reshape(2, 3)


# (keyword call, the same call with positional arguments)
KEYWORD_CALLS = {
    "relu": (lambda: F.relu(input=X), lambda: F.relu(X)),
    "add": (lambda: mc.add(input=X, other=Y, alpha=2), lambda: X + 2 * Y),
    "sub": (lambda: mc.sub(input=X, other=Y, alpha=0.5), lambda: X - 0.5 * Y),
    "mul": (lambda: F.mul(input=X, other=Y), lambda: X * Y),
    "div": (lambda: mc.div(input=X, other=Y + 2), lambda: X / (Y + 2)),
    "pow": (lambda: mc.pow(input=X, exponent=2), lambda: X ** 2),
    "matmul": (lambda: mc.matmul(input=X, other=Y.T), lambda: X @ Y.T),
    "mm": (lambda: mc.mm(input=X, mat2=Y.T), lambda: X @ Y.T),
    "where": (lambda: mc.where(condition=X > 0, input=X, other=Y), lambda: np.where(X > 0, X, Y)),
    "squeeze": (lambda: mc.squeeze(input=X[None], dim=0), lambda: X),
    "unsqueeze": (lambda: mc.unsqueeze(input=X, dim=1), lambda: X[:, None]),
    "reshape": (lambda: mc.reshape(input=X, shape=(3, 2)), lambda: X.reshape(3, 2)),
    "permute": (lambda: mc.permute(input=X, dims=(1, 0)), lambda: X.T),
    "transpose": (lambda: mc.transpose(input=X, dim0=0, dim1=1), lambda: X.T),
    "split": (lambda: mc.split(tensor=X, split_size_or_sections=1, dim=0)[1], lambda: X[1:]),
    "softmax": (lambda: F.softmax(input=X, dim=1), lambda: F.softmax(X, 1)),
    "sum": (lambda: mc.sum(input=X, dim=1, keepdim=True), lambda: X.sum(1, keepdims=True)),
    "pad": (lambda: F.pad(input=X, pad=(1, 1)), lambda: np.pad(X, ((0, 0), (1, 1)))),
    "var": (lambda: mc.var(input=X, dim=1, correction=0, keepdim=True), lambda: X.var(1, keepdims=True)),
    "norm": (lambda: mc.norm(input=X, p=1, dim=1, keepdim=True), lambda: np.abs(X).sum(1, keepdims=True)),
}


@pytest.mark.parametrize("name", sorted(KEYWORD_CALLS))
def test_keyword_calls_from_torchs_documentation_work(name):
    keyword, positional = KEYWORD_CALLS[name]
    np.testing.assert_allclose(np.asarray(keyword()), np.asarray(positional()), rtol=1e-12)


def test_tensor_methods_of_the_arithmetic():
    x, y = mc.tensor(X), mc.tensor(Y)
    np.testing.assert_allclose(x.add(y, alpha=3).array, X + 3 * Y)
    np.testing.assert_allclose(x.sub(y, alpha=3).array, X - 3 * Y)
    np.testing.assert_allclose(x.mul(y).array, X * Y)
    np.testing.assert_allclose(x.div(2).array, X / 2)
    np.testing.assert_allclose(x.neg().array, -X)
    np.testing.assert_allclose(x.matmul(y.t()).array, X @ Y.T)
    assert x.squeeze(dim=0).shape == (2, 3) and x.unsqueeze(dim=-1).shape == (2, 3, 1)
    assert x.reshape(shape=(6,)).shape == (6,) and x.permute(dims=(1, 0)).shape == (3, 2)


def test_alpha_scales_the_gradient_of_other():
    x, y = mc.tensor(X, requires_grad=True), mc.tensor(Y, requires_grad=True)
    mc.sub(x, y, alpha=3).sum().backward()
    np.testing.assert_array_equal(x.grad.array, np.ones((2, 3)))
    np.testing.assert_array_equal(y.grad.array, np.full((2, 3), -3.0))


@pytest.mark.parametrize("call, error, message", [
    (lambda: mc.add(X, Y, alpha="2"), TypeError, r"add: alpha must be a number"),
    (lambda: mc.sub(X, Y, alpha=None), TypeError, r"sub: alpha must be a number"),
    (lambda: mc.reshape(X, 3, 2, shape=(3, 2)), TypeError, r"reshape: give shape positionally or as shape=, not both"),
    (lambda: mc.permute(X, 1, 0, dims=(1, 0)), TypeError, r"permute: give dims positionally or as dims=, not both"),
    (lambda: mc.squeeze(X, 0, axis=0), TypeError, r"squeeze: pass either axis= or dim=, not both"),
    (lambda: mc.pow(X, "2"), TypeError, r"pow: exponent must be"),
])
def test_bad_keyword_arguments_name_the_op(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---- PyTorch's inplace flag on the activations -------------------------------------------------------
INPLACE = {"relu": (), "leaky_relu": (0.2,), "elu": (0.5,), "hardsigmoid": (), "relu6": (), "hardswish": (),
           "silu": ()}
VALUES = np.array([[-4.0, -1.5, -0.25, 0.5], [1.0, 2.5, 4.0, 7.0]])  # every branch, no kink


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_writes_the_activation_over_its_input(name):
    op, args = getattr(F, name), INPLACE[name]
    expected = op(mc.tensor(VALUES), *args).array
    x = mc.tensor(VALUES.copy())
    assert op(x, *args, inplace=True) is x and x._version == 1
    np.testing.assert_allclose(x.array, expected, rtol=1e-15)
    # in a graph: the gradient through the overwritten tensor is the out-of-place one
    assert_gradcheck(lambda t: op(t * 1.0, *args, inplace=True), [mc.tensor(VALUES, requires_grad=True)])
    with pytest.raises(RuntimeError, match=f"{name}_: a leaf Variable that requires grad"):
        op(mc.tensor(VALUES, requires_grad=True), *args, inplace=True)
    with pytest.raises(TypeError, match=f"{name}: inplace=True needs a Tensor"):
        op(VALUES, *args, inplace=True)
    with pytest.raises(TypeError, match=f"{name}: inplace must be a bool"):
        op(VALUES, *args, inplace="yes")


@pytest.mark.parametrize("layer, text", [
    (lambda: nn.LeakyReLU(0.2, inplace=True), "LeakyReLU(negative_slope=0.2, inplace=True)"),
    (lambda: nn.ELU(inplace=True), "ELU(alpha=1.0, inplace=True)"),
    (lambda: nn.ReLU6(True), "ReLU6(inplace=True)"),
    (lambda: nn.Hardswish(inplace=True), "Hardswish(inplace=True)"),
    (lambda: nn.Hardsigmoid(inplace=True), "Hardsigmoid(inplace=True)"),
    (lambda: nn.SiLU(inplace=True), "SiLU(inplace=True)"),
    (lambda: nn.LeakyReLU(), "LeakyReLU(negative_slope=0.01)"),
])
def test_activation_layers_take_the_inplace_flag(layer, text):
    module = layer()
    assert repr(module) == text
    x = mc.tensor(VALUES.copy())
    assert (module(x) is x) == module.inplace

"""Check a backward pass against finite differences.

The function's outputs are reduced to one scalar, L = sum_k <w_k, y_k>, with fixed random
weights w_k, so every element of every output takes part and one backward pass gives the whole
analytic gradient. Then:

- mode="elementwise": each input element x_i is nudged by +-eps and
  (L(x + eps e_i) - L(x - eps e_i)) / 2 eps is compared with dL/dx_i;
- mode="directional": for a few random directions v over all inputs at once,
  (L(x + eps v) - L(x - eps v)) / 2 eps is compared with <dL/dx, v>: two forward passes per
  direction, whatever the number of parameters. A failing direction is then traced to the input
  responsible by repeating it one input at a time.

A pass must agree within |analytic - numeric| <= atol + rtol * |numeric|.
"""
from __future__ import annotations

import numpy as np

from .tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with finite differences."""


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, mode="elementwise",
              params=None, n_directions=3, seed=0) -> bool:
    """Compare the gradients of `fn(*inputs)` with central finite differences.

    fn: a callable of the inputs returning a Tensor or a tuple of Tensors. If it is an
        nn.Module, its parameters are checked too (or pass `params=` explicitly).
    inputs: a Tensor or a sequence of Tensors; those with requires_grad=True are checked.
    Everything checked must be float64: float32's 7 significant digits cannot resolve a
    difference quotient with a small eps.
    fn must be deterministic: replay dropout masks by re-seeding its Generator on every call.

    Returns True, or raises GradcheckError naming the input, the worst index, and the analytic
    and numeric values.
    """
    if mode not in ("elementwise", "directional"):
        raise ValueError(f"gradcheck: mode must be 'elementwise' or 'directional', got {mode!r}")
    rng = np.random.default_rng(seed)
    named, scalar, weights = _setup(fn, inputs, params, eps, rng)
    analytic = _analytic(fn, scalar.inputs, named, weights)

    if mode == "elementwise":
        for (name, t), grad in zip(named, analytic):
            _compare(name, grad, _numeric(scalar, t, eps), atol, rtol)
        return True

    for k in range(n_directions):
        directions = [rng.standard_normal(t.shape) for _, t in named]
        numeric = _directional_difference(scalar, [t for _, t in named], directions, eps)
        predicted = sum(float(np.sum(g * v)) for g, v in zip(analytic, directions))
        if abs(predicted - numeric) > atol + rtol * abs(numeric):
            culprit = _trace(scalar, named, analytic, directions, eps, atol, rtol)
            raise GradcheckError(
                f"gradcheck (directional, direction {k}): <grad, v> = {predicted:.10g} but the "
                f"finite difference is {numeric:.10g} (difference {predicted - numeric:.3g}); {culprit}"
            )
    return True


def _named(params):
    if params is None:
        return []
    params = list(params)
    return [p if isinstance(p, tuple) else (str(i), p) for i, p in enumerate(params)]


def elementwise_gradients(fn, inputs, *, eps=1e-6, params=None, seed=0, output_weights=None) -> list:
    """[(name, analytic, numeric)] for every checked tensor (as in gradcheck's elementwise mode):
    dL/dt from one backward pass and from central differences, L = sum_k <w_k, y_k>.

    output_weights: the w_k (arrays of the outputs' shapes); default random, drawn from `seed`.
    Masking them to a slice of an output gives the gradient of that slice alone.
    """
    named, scalar, weights = _setup(fn, inputs, params, eps, np.random.default_rng(seed), output_weights)
    analytic = _analytic(fn, scalar.inputs, named, weights)
    return [(name, grad, _numeric(scalar, t, eps)) for (name, t), grad in zip(named, analytic)]


class _Scalar:
    """L(inputs) = sum_k <w_k, y_k> with fixed weights w_k (drawn on the first call if not given)."""

    def __init__(self, fn, inputs, rng, weights=None):
        self.fn, self.inputs, self.rng, self.weights = fn, inputs, rng, weights

    def __call__(self) -> float:
        with no_grad():
            outputs = _as_tuple(self.fn(*self.inputs))
        if self.weights is None:
            self.weights = [self.rng.standard_normal(y.shape) for y in outputs]
        return float(sum(np.sum(w * y.array) for w, y in zip(self.weights, outputs)))


def _setup(fn, inputs, params, eps, rng, weights=None):
    """The checked (name, tensor) pairs, L as a _Scalar, and L's output weights."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    # fn's gradient is checked with respect to its inputs, so an input computed by earlier ops
    # (x.double(), say) is checked as a fresh leaf holding the same values.
    inputs = tuple(Tensor(t.array.copy(), requires_grad=True)
                   if isinstance(t, Tensor) and t.requires_grad and not t.is_leaf else t for t in inputs)
    if params is None and hasattr(fn, "named_parameters"):
        params = list(fn.named_parameters())
    named = [(f"input {i}", t) for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    named += [(f"parameter {name!r}", p) for name, p in _named(params) if p.requires_grad]
    if not named:
        raise ValueError("gradcheck: nothing to check: no input or parameter has requires_grad=True")
    for name, t in named:
        if t.dtype != np.float64:
            raise TypeError(
                f"gradcheck: {name} is {t.dtype}; finite differences need float64 "
                f"(in float32, a step of eps={eps} is lost in rounding). Use .double() / "
                "model.double() before checking"
            )
    scalar = _Scalar(fn, inputs, rng, weights)
    base = scalar()
    if scalar() != base:
        raise GradcheckError(
            "gradcheck: fn is not deterministic (two calls on the same inputs differ); "
            "re-seed the Generator of any dropout or drop-path inside fn on every call"
        )
    return named, scalar, scalar.weights


def _numeric(scalar, t, eps) -> np.ndarray:
    """dL/dt by central differences, one element at a time."""
    t.array = np.ascontiguousarray(t.array)  # so the flat view below writes through
    numeric = np.zeros(t.shape)
    flat, original = t.array.reshape(-1), t.array.copy().reshape(-1)
    for i in range(flat.size):
        flat[i] = original[i] + eps
        plus = scalar()
        flat[i] = original[i] - eps
        minus = scalar()
        flat[i] = original[i]
        numeric.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return numeric


def _as_tuple(outputs):
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    for y in outputs:
        if not isinstance(y, Tensor):
            raise TypeError(f"gradcheck: fn must return Tensors, got {type(y).__name__}")
    return tuple(outputs)


def _analytic(fn, inputs, named, weights):
    """dL/dt for every checked tensor, from one backward pass."""
    saved = [t.grad for _, t in named]
    for _, t in named:
        t.grad = None
    outputs = _as_tuple(fn(*inputs))
    total = None
    for w, y in zip(weights, outputs):
        if y.requires_grad:
            term = (y * w).sum()
            total = term if total is None else total + term
    grads = []
    if total is not None:
        total.backward()
    for (_, t), old in zip(named, saved):
        grads.append(np.zeros(t.shape) if t.grad is None else t.grad.array.copy())
        t.grad = old
    return grads


def _directional_difference(scalar, tensors, directions, eps) -> float:
    originals = [t.array.copy() for t in tensors]
    for t, o, v in zip(tensors, originals, directions):
        t.array[...] = o + eps * v
    plus = scalar()
    for t, o, v in zip(tensors, originals, directions):
        t.array[...] = o - eps * v
    minus = scalar()
    for t, o in zip(tensors, originals):
        t.array[...] = o
    return (plus - minus) / (2 * eps)


def _trace(scalar, named, analytic, directions, eps, atol, rtol) -> str:
    """Repeat the failing direction one tensor at a time to name the one that is wrong."""
    worst, worst_gap = None, 0.0
    for (name, t), g, v in zip(named, analytic, directions):
        numeric = _directional_difference(scalar, [t], [v], eps)
        predicted = float(np.sum(g * v))
        gap = abs(predicted - numeric) - (atol + rtol * abs(numeric))
        if gap > worst_gap:
            worst, worst_gap = (name, predicted, numeric), gap
    if worst is None:
        return "no single input fails alone"
    name, predicted, numeric = worst
    return f"the worst is {name}: <grad, v> = {predicted:.10g}, finite difference {numeric:.10g}"


def _compare(name, analytic, numeric, atol, rtol):
    excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if excess.size and (np.nanmax(excess) > 0 or np.isnan(excess).any()):
        flat = np.where(np.isnan(excess), np.inf, excess).reshape(-1)
        index = np.unravel_index(int(np.argmax(flat)), analytic.shape)
        raise GradcheckError(
            f"gradcheck: {name}: analytic gradient {analytic[index]:.10g} but numeric "
            f"{numeric[index]:.10g} at index {tuple(int(i) for i in index)} "
            f"(atol={atol}, rtol={rtol}; {int((flat > 0).sum())} of {flat.size} elements out of tolerance)"
        )

"""check_function: every check a new op should pass, run at once, with a report that shows where
a wrong gradient is wrong and what the error looks like.

    report = check_function(MyOp, x, weight)   # a Function subclass or any callable of Tensors
    print(report)                              # what passed, what failed, where and how
    report.assert_ok()                         # raises GradcheckError with that text

The checks (inputs are converted to float64 Tensors; integer arrays pass through unchanged):

- gradient (elementwise): dL/dx from backward against central differences, element by element,
  for inputs of at most `max_elementwise` elements in all, L = sum <w, y> with fixed random w;
- gradient (directional): the same along a few random directions (any size; minicnn.gradcheck);
- non-contiguous inputs: the same values in strided arrays give the same outputs and gradients;
- zero-size inputs: the inputs in `batch_inputs` cut to 0 rows along axis 0 run forward and backward;
- float32 forward: float32 inputs give a float32 output within `float32_rtol` of the float64 one.

A wrong elementwise gradient is classified by these rules on the analytic gradient a and the
numerical one n of one input (with `close` meaning within atol + rtol |n|), the first match wins:

1. zero:           a is 0 everywhere and n is not;
2. sign:           a is close to -n everywhere;
3. factor:         a is close to c n with c = <a, n> / <n, n> != 1;
4. off by one:     a[i] is close to n[i -+ 1] along one axis (where both exist);
5. missing broadcast reduction: the input was broadcast along an output axis and a equals the
                   gradient of output slice 0 along that axis alone (a sum over it is missing);
6. one slice:      the wrong elements all share one index of one axis and fill that slice
                   (a row, a column, a channel);
7. border:         the wrong elements all lie on the first/last index of the last two axes and
                   the interior is right;
8. scattered:      none of the above; the count of wrong elements is given.
A backward that returns a gradient of another shape than its input is reported as a shape error,
"missing broadcast reduction" when the input's shape broadcasts to the returned one.
"""
from __future__ import annotations

import ast
import dataclasses
import re

import numpy as np

from .gradcheck import GradcheckError, elementwise_gradients, gradcheck
from .tensor import Function, Tensor, no_grad

WORST_SHOWN = 3


@dataclasses.dataclass
class Failure:
    """One failed check: its name, the input concerned (or ""), and the details in words."""

    check: str
    where: str
    message: str


@dataclasses.dataclass
class GradientComparison:
    """Analytic and numerical dL/dx of one input, and the pattern of their difference (None: right)."""

    name: str
    analytic: np.ndarray
    numeric: np.ndarray
    pattern: str | None


@dataclasses.dataclass
class CheckReport:
    """What check_function found: `failures` (empty when everything passed), the names of the
    checks that passed and of those skipped (with why), and the elementwise gradient comparisons
    (for plot_jacobian_error)."""

    function: str
    passed: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    failures: list = dataclasses.field(default_factory=list)
    gradients: list = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        total = len(self.passed) + len(self.failures)
        skipped = "".join(f"\n  skipped: {reason}" for reason in self.skipped)
        if self.ok:
            return f"check_function({self.function}): all {total} checks passed ({', '.join(self.passed)}){skipped}"
        lines = [f"check_function({self.function}): {len(self.failures)} of {total} checks failed"]
        for failure in self.failures:
            where = f", {failure.where}" if failure.where else ""
            detail = failure.message.split("\n")
            lines.append(f"  FAILED {failure.check}{where}: {detail[0]}")
            lines += ["      " + line for line in detail[1:]]
        if self.passed:
            lines.append(f"  passed: {', '.join(self.passed)}")
        return "\n".join(lines) + skipped

    def assert_ok(self) -> CheckReport:
        """Raise GradcheckError (an AssertionError) with the whole report if any check failed."""
        if not self.ok:
            raise GradcheckError(str(self))
        return self


def check_function(fn, *example_inputs, eps=1e-6, atol=1e-5, rtol=1e-3, n_directions=3,
                   max_elementwise=4096, float32_rtol=1e-4, batch_inputs=(0,), seed=0) -> CheckReport:
    """Run every check on `fn` (a Function subclass, called through .apply, or a callable of
    Tensors returning a Tensor or a tuple of them) at `example_inputs`; see the module docstring.

    Floating inputs (Tensors, arrays, lists) become float64 leaves with requires_grad=True; other
    arguments (integer index arrays, ints, strings) pass through unchanged. `batch_inputs`: the
    positions of the inputs whose axis 0 is a batch axis, cut to size 0 in the zero-size check.
    max_elementwise=None checks every input elementwise whatever its size.
    Returns a CheckReport; call .assert_ok() on it in a test.
    """
    call = fn.apply if isinstance(fn, type) and issubclass(fn, Function) else fn
    report = CheckReport(getattr(fn, "__name__", type(fn).__name__))
    arrays = [_float_array(a) for a in example_inputs]
    checked = [i for i, a in enumerate(arrays) if a is not None]
    if not checked:
        raise ValueError("check_function: no floating-point input to check among the example inputs")

    def inputs(dtype=np.float64, change=lambda i, a: a):
        return [Tensor(change(i, a).astype(dtype, copy=False), requires_grad=True) if a is not None else x
                for i, (a, x) in enumerate(zip(arrays, example_inputs))]

    try:
        with no_grad():
            outputs = _outputs(call(*inputs()))
    except Exception as error:  # the op cannot even run: nothing else can be checked
        report.failures.append(Failure("forward in float64", "", f"raised {_describe(error)}"))
        return report
    weights = [np.random.default_rng(seed).standard_normal(y.shape) for y in outputs]

    _check_elementwise(report, call, inputs, arrays, outputs, weights, eps, atol, rtol, max_elementwise)
    _run(report, "gradient (directional)", lambda: gradcheck(
        call, inputs(), eps=eps, atol=atol, rtol=rtol, mode="directional", n_directions=n_directions, seed=seed))
    _run(report, "non-contiguous inputs", lambda: _check_non_contiguous(call, inputs, weights))
    if batch_inputs:
        _run(report, "zero-size inputs", lambda: _check_zero_size(call, inputs, batch_inputs))
    else:
        report.skipped.append("zero-size inputs: batch_inputs=() names no batch input")
    _run(report, "float32 forward", lambda: _check_float32(call, inputs, outputs, float32_rtol))
    return report


def _float_array(value):
    """value's array if it is floating-point data (a Tensor, an array, a list of floats), else None."""
    if isinstance(value, Tensor):
        value = value.array
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return value
    return None


def _outputs(result) -> tuple:
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    for y in outputs:
        if not isinstance(y, Tensor):
            raise TypeError(f"the function must return Tensors, got {type(y).__name__}")
    return tuple(outputs)


def _describe(error) -> str:
    return f"{type(error).__name__}: {error}"


def _run(report, name, check) -> None:
    """Run one check: it raises AssertionError (a wrong result) or another error (a crash)."""
    try:
        check()
    except GradcheckError as error:
        report.failures.append(Failure(name, "", str(error).replace("gradcheck (directional, direction", "along direction").replace("):", ":", 1)))
    except AssertionError as error:
        report.failures.append(Failure(name, "", str(error)))
    except Exception as error:
        report.failures.append(Failure(name, "", f"raised {_describe(error)}"))
    else:
        report.passed.append(name)


# ---- gradient, elementwise, with the pattern of the error --------------------------------------

def _check_elementwise(report, call, inputs, arrays, outputs, weights, eps, atol, rtol, limit):
    name = "gradient (elementwise)"
    size = sum(a.size for a in arrays if a is not None)
    if limit is not None and size > limit:
        report.skipped.append(f"{name}: {size} input elements > max_elementwise={limit} "
                              "(the directional check still covers them)")
        return
    try:
        compared = elementwise_gradients(call, inputs(), eps=eps, output_weights=weights)
    except RuntimeError as error:
        report.failures.append(Failure(name, "", _shape_error(error, arrays)))
        return
    failed = False
    for input_name, analytic, numeric in compared:
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        bad = np.isnan(excess) | (excess > 0)
        pattern = None
        if bad.any():
            failed = True
            position = int(input_name.split()[1])

            def slice_gradient(axis, index=0, position=position):
                masked = [w.copy() for w in weights]
                keep = [slice(None)] * masked[0].ndim
                keep[axis] = index
                masked[0][...] = 0
                masked[0][tuple(keep)] = weights[0][tuple(keep)]
                tensors = inputs()
                for i, t in enumerate(tensors):  # only this input's numerical gradient is needed
                    if isinstance(t, Tensor) and i != position:
                        t.requires_grad = False
                return elementwise_gradients(call, tensors, eps=eps, output_weights=masked)[0][2]

            pattern = classify(analytic, numeric, atol, rtol, outputs[0].shape, slice_gradient)
            report.failures.append(Failure(
                name, f"{input_name} (shape {analytic.shape})",
                pattern + "\n" + _worst_table(analytic, numeric, excess, bad)))
        report.gradients.append(GradientComparison(input_name, analytic, numeric, pattern))
    if not failed:
        report.passed.append(name)


def _shape_error(error, arrays) -> str:
    """The backward returned a gradient of the wrong shape (minicnn's autograd refuses it)."""
    match = re.search(r"gradient of shape (\(.*?\)) for argument (\d+), whose shape is (\(.*?\))", str(error))
    if not match:
        return f"backward raised {_describe(error)}"
    got, position, expected = ast.literal_eval(match[1]), int(match[2]), ast.literal_eval(match[3])
    try:
        broadcasts = np.broadcast_shapes(expected, got) == tuple(got)
    except ValueError:
        broadcasts = False
    if broadcasts:
        lead = len(got) - len(expected)
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(expected) if n == 1 and got[lead + i] != 1)
        return (f"missing broadcast reduction: backward returned a gradient of shape {got} for input "
                f"{position} of shape {expected}; it must sum over the broadcast axes {axes} "
                f"(grad.sum(axis={axes}{', keepdims=True' if lead == 0 else ''}))")
    return f"backward returned a gradient of shape {got} for input {position} of shape {expected}"


def _worst_table(analytic, numeric, excess, bad) -> str:
    order = np.argsort(np.where(np.isnan(excess), np.inf, excess), axis=None)[::-1][:WORST_SHOWN]
    rows = [f"{'index':<16}{'analytic':>14}{'numerical':>14}"]
    for flat in order:
        index = np.unravel_index(flat, analytic.shape)
        rows.append(f"{str(tuple(int(i) for i in index)):<16}{analytic[index]:>14.6g}{numeric[index]:>14.6g}")
    return f"{int(bad.sum())} of {bad.size} elements wrong; the worst:\n" + "\n".join(rows)


def classify(analytic, numeric, atol=1e-5, rtol=1e-3, output_shape=None, slice_gradient=None) -> str:
    """The pattern of a wrong gradient, in words, by the module docstring's rules 1-8.

    output_shape and slice_gradient(axis) (the numerical gradient of output slice 0 along `axis`
    alone) enable rule 5; without them it is skipped.
    """
    def close(a, b):
        return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))

    if not (np.isfinite(analytic).all() and np.isfinite(numeric).all()):
        return "non-finite values in the analytic or the numerical gradient"
    if not analytic.any() and numeric.any():
        return "zero gradient: the analytic gradient is 0 everywhere (is the backward's result used?)"
    if close(-analytic, numeric):
        return "sign: analytic = -numerical everywhere"
    norm = float(np.sum(numeric * numeric))
    if norm > 0:
        c = float(np.sum(analytic * numeric)) / norm
        if close(analytic, c * numeric):
            return f"constant factor: analytic = {c:.6g} x numerical{_simple_ratio(c)}"
    for axis, size in enumerate(analytic.shape):
        for shift in (1, -1):
            if size > 1 and _shifted_match(analytic, numeric, axis, shift, close):
                where = "after" if shift > 0 else "before"
                return (f"off by one along axis {axis}: analytic[i] = numerical[i {'-' if shift > 0 else '+'} 1] "
                        f"(each gradient lands one position {where} where it belongs)")
    if output_shape is not None and slice_gradient is not None:
        for axis in _broadcast_axes(analytic.shape, output_shape):
            if close(analytic, slice_gradient(axis)):
                return (f"missing broadcast reduction: analytic is the gradient of output slice 0 along "
                        f"output axis {axis} alone; the backward must sum over that axis "
                        f"(size {output_shape[axis]}), along which this input was broadcast")
    bad = np.abs(analytic - numeric) > atol + rtol * np.abs(numeric)
    for axis, size in enumerate(bad.shape):
        indices = np.unique(np.nonzero(bad)[axis])
        if size > 1 and len(indices) == 1 and np.take(bad, indices[0], axis=axis).all():
            return f"one slice: every element with index {indices[0]} along axis {axis} ({_slice_name(bad.ndim, axis)}) is wrong, the rest is right"
    if bad.ndim >= 1 and min(bad.shape[-2:]) > 2:
        interior = bad[(Ellipsis,) + (slice(1, -1),) * min(bad.ndim, 2)]
        if not interior.any():
            return "border: only elements on the edge (first/last index of the last two axes) are wrong"
    return f"scattered: {int(bad.sum())} of {bad.size} elements wrong, in no simple pattern"


def _simple_ratio(c) -> str:
    for k in range(2, 65):
        if abs(c * k - round(c * k)) < 1e-3 * k and round(c * k) == 1:
            return f" (= 1/{k}: a mean where a sum belongs, or a missing factor {k}?)"
        if abs(c - k) < 1e-3 * k:
            return f" (= {k}: a factor counted twice, or a sum where a mean belongs?)"
    return ""


def _shifted_match(analytic, numeric, axis, shift, close) -> bool:
    """analytic[i] close to numeric[i - shift] along `axis` where both exist, and not trivially."""
    n = analytic.shape[axis]
    a = np.take(analytic, range(max(shift, 0), n + min(shift, 0)), axis=axis)
    b = np.take(numeric, range(max(-shift, 0), n - max(shift, 0)), axis=axis)
    return bool(b.any()) and close(a, b)


def _broadcast_axes(input_shape, output_shape) -> list:
    """Output axes along which an input of `input_shape` is broadcast (aligned on the right)."""
    lead = len(output_shape) - len(input_shape)
    if lead < 0:
        return []
    return [axis for axis, n in enumerate(output_shape)
            if n > 1 and (axis < lead or input_shape[axis - lead] == 1)]


def _slice_name(ndim, axis) -> str:
    if ndim == 2:
        return ("a row", "a column")[axis]
    if ndim >= 3 and axis == 1:
        return "a channel"
    return "a slice"


# ---- the other checks ----------------------------------------------------------------------

def _gradients(call, tensors, weights=None) -> tuple:
    """Outputs and dL/dx of every input, L = sum <w, y> (w = 1 when weights is None)."""
    outputs = _outputs(call(*tensors))
    total = None
    for k, y in enumerate(outputs):
        if y.requires_grad:
            term = (y * weights[k]).sum() if weights is not None else y.sum()
            total = term if total is None else total + term
    if total is not None:
        total.backward()
    grads = [t.grad.array if isinstance(t, Tensor) and t.grad is not None else None for t in tensors]
    return [y.array for y in outputs], grads


def _non_contiguous(i, a):
    """The same values in a strided (non-contiguous) array."""
    if a.size < 2:
        return a
    strided = np.empty(a.shape + (2,), a.dtype)[..., 0]
    strided[...] = a
    return strided


def _check_non_contiguous(call, inputs, weights) -> None:
    expected_y, expected_g = _gradients(call, inputs(), weights)
    got_y, got_g = _gradients(call, inputs(change=_non_contiguous), weights)
    for what, expected, got in (("output", expected_y, got_y), ("gradient", expected_g, got_g)):
        for k, (e, g) in enumerate(zip(expected, got)):
            if e is not None and not np.allclose(e, g, rtol=1e-10, atol=1e-12):
                raise AssertionError(f"{what} {k} differs on strided inputs holding the same values "
                                     f"(max difference {np.max(np.abs(e - g)):.3g}): does the op assume "
                                     "a contiguous array (reshape of a view, .flat writes)?")


def _check_zero_size(call, inputs, batch_inputs) -> None:
    tensors = inputs(change=lambda i, a: a[:0] if i in batch_inputs and a.ndim else a)
    _, grads = _gradients(call, tensors)
    for t, g in zip(tensors, grads):
        if isinstance(t, Tensor) and g is not None and g.shape != t.shape:
            raise AssertionError(f"gradient of shape {g.shape} for an input of shape {t.shape}")


def _check_float32(call, inputs, outputs64, limit) -> None:
    with no_grad():
        outputs = _outputs(call(*inputs(np.float32)))
    for k, (y, y64) in enumerate(zip(outputs, outputs64)):
        if y.dtype != np.float32:
            raise AssertionError(f"output {k} is {y.dtype} for float32 inputs (it should stay float32)")
        scale = float(np.max(np.abs(y64.array), initial=0.0)) or 1.0
        error = float(np.max(np.abs(y.array - y64.array), initial=0.0)) / scale
        if not error <= limit:
            raise AssertionError(f"output {k} in float32 is {error:.3g} away from float64 (relative to "
                                 f"its largest value; limit float32_rtol={limit})")


def plot_jacobian_error(report: CheckReport, path) -> None:
    """Draw, for each input compared elementwise, its analytic gradient, numerical gradient and
    their difference as images (arrays of more than 2 axes are shown with the leading axes
    flattened into rows), and save the figure to `path`. Needs matplotlib (minicnn[plot])."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot_jacobian_error needs matplotlib: pip install 'minicnn[plot]'") from None
    if not report.gradients:
        raise ValueError("plot_jacobian_error: the report has no elementwise gradient comparison "
                         "(the inputs were larger than max_elementwise, or the backward crashed)")
    rows = len(report.gradients)
    fig, axes = plt.subplots(rows, 3, figsize=(11, 3.2 * rows), squeeze=False)
    for row, comparison in zip(axes, report.gradients):
        def as_image(a):
            return a.reshape(1, -1) if a.ndim < 2 else a.reshape(-1, a.shape[-1])

        panels = (("analytic", comparison.analytic), ("numerical", comparison.numeric),
                  ("analytic - numerical", comparison.analytic - comparison.numeric))
        limit = max(float(np.max(np.abs(p), initial=0.0)) for _, p in panels) or 1.0
        for ax, (title, values) in zip(row, panels):
            image = ax.imshow(as_image(values), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
            ax.set_title(f"{comparison.name}: {title}", fontsize=10)
            ax.set_xlabel("last axis index")
            ax.set_ylabel("other axes (flattened)")
            fig.colorbar(image, ax=ax, shrink=0.8)
        if comparison.pattern:
            row[0].annotate(comparison.pattern.split(":")[0], (0, 1.18), xycoords="axes fraction",
                            fontsize=10, color="darkred")
    fig.suptitle(f"dL/dx of {report.function} (L = sum of outputs x fixed random weights)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""Tensor, Function and the backward graph walk: all of minicnn's autograd in one file.

A `Tensor` wraps a NumPy array. Every differentiable operation is a `Function` whose `forward`
and `backward` work on plain NumPy arrays; `Function.apply` runs `forward` and, when a gradient
is wanted, records a `Context` node that remembers where each input's gradient goes and whatever
`forward` saved. `Tensor.backward` then visits those nodes once each, in reverse topological
order, with an explicit stack (no recursion, so a 1,000-layer chain is fine).

In-place changes follow PyTorch's rules. Every tensor has a version counter, shared by the
tensors that share its memory (`.data`, `detach()`, views made by reshape or transpose), and
bumped by each in-place op. A node notes the version of every tensor whose memory it saved;
`backward` refuses to use a saved value whose tensor has changed since.
"""
from __future__ import annotations

import contextlib
import itertools
import threading
import time
from typing import NamedTuple

import numpy as np

from . import profiler as _profiler

DEFAULT_DTYPE = np.float32  # the initial default floating dtype (see set_default_dtype)
_default_dtype = np.dtype(DEFAULT_DTYPE)

_state = threading.local()


def get_default_dtype() -> np.dtype:
    """The dtype that Python floats and the constructors (zeros, rand, ...) produce: float32 unless set."""
    return _default_dtype


def float_dtype(dtype=None) -> np.dtype:
    """`dtype`, or the default floating dtype when it is None (what `dtype=None` means in a
    constructor or a layer, read when the tensor or layer is made, as in PyTorch)."""
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def set_default_dtype(dtype) -> None:
    """Make `dtype` (float32 or float64) the default floating dtype, as torch.set_default_dtype."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"set_default_dtype: only float32 and float64 are supported, got {dtype}")
    _default_dtype = dtype


def is_grad_enabled() -> bool:
    """True unless inside a `no_grad()` block (per thread)."""
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def no_grad():
    """Context manager: operations inside it record no graph (for evaluation and updates)."""
    previous = is_grad_enabled()
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = previous


@contextlib.contextmanager
def enable_grad():
    """Context manager: re-enables graph recording inside a `no_grad()` block."""
    previous = is_grad_enabled()
    _state.grad_enabled = True
    try:
        yield
    finally:
        _state.grad_enabled = previous


def as_array(value, dtype=None) -> np.ndarray:
    """Convert a Tensor, array, (nested) list or Python number to a NumPy array.

    Python floats (and lists of them) become the default dtype (float32); NumPy arrays keep
    their dtype, so float64 data stays float64. Lists may hold tensors (their values are taken).
    Strings and other non-numbers are a TypeError.
    """
    if isinstance(value, Tensor):
        array = value.array
    elif isinstance(value, np.ndarray):
        array = value
    else:
        try:
            array = np.asarray(value, dtype=dtype)
        except (ValueError, TypeError):  # e.g. a list of 0-d tensors, which NumPy reads as sequences
            try:
                array = np.asarray(_values_of(value), dtype=dtype)
            except (ValueError, TypeError) as error:
                raise ValueError(f"expected numbers or equally long (nested) lists of them: {error}") from None
        if dtype is None and array.dtype == np.float64 and not isinstance(value, np.generic):
            array = array.astype(_default_dtype)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"expected numbers (a tensor, an array, a number or a list of them), got "
                        f"{type(value).__name__} of dtype {array.dtype}")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return array


def _values_of(value):
    """`value` with every Tensor inside (nested) lists and tuples replaced by its array."""
    if isinstance(value, Tensor):
        return value.array
    if isinstance(value, (list, tuple)):
        return [_values_of(v) for v in value]
    return value


class VersionCounter:
    """How many in-place changes a piece of memory has seen; shared by the tensors that view it.

    `has_views`: some view of this memory (reshape, transpose, ...) is part of a graph, so an
    in-place change while recording could not be followed by both (minicnn then refuses it).
    """

    __slots__ = ("value", "has_views")

    def __init__(self):
        self.value = 0
        self.has_views = False


class Size(tuple):
    """The shape of a tensor, as returned by `size()`: a tuple printed like torch.Size."""

    def __repr__(self) -> str:
        return f"minicnn.Size({list(self)})"

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))


def to_arguments(args, kwargs) -> tuple:
    """The (dtype or None, copy) asked for by to(dtype), to("cpu"), to("cpu", dtype), to(tensor),
    to(device=..., dtype=..., non_blocking=..., copy=...); a device other than the CPU is refused."""
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", None)
    target = kwargs.pop("device", None)
    kwargs.pop("non_blocking", None)
    copy = kwargs.pop("copy", False)
    if kwargs:
        raise TypeError(f"to(): unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif isinstance(arg, (str, device)):
            target = arg
        else:
            dtype = arg
    if target is not None:
        device(target)
    return dtype, copy


class device:
    """Where a tensor lives: always the CPU. `device("cpu")`; anything else is refused."""

    def __init__(self, type="cpu"):
        if isinstance(type, device):
            type = type.type
        if type not in ("cpu", "cpu:0"):
            raise ValueError(f"minicnn runs on the CPU only; device {type!r} is not available "
                             "(use 'cpu' or leave the device out)")
        self.type = "cpu"

    def __repr__(self) -> str:
        return "device(type='cpu')"

    def __str__(self) -> str:
        return "cpu"

    def __eq__(self, other) -> bool:
        return isinstance(other, device) or other in ("cpu", "cpu:0")

    __hash__ = object.__hash__


CPU = device("cpu")


class ValuesIndices(NamedTuple):
    """What max(dim), min(dim), sort and topk return: `values, indices = x.max(1)`."""

    values: "Tensor"
    indices: "Tensor"


class RemovableHandle:
    """Returned by `register_hook`: `handle.remove()` takes the hook off again."""

    _ids = itertools.count()

    def __init__(self, hooks: dict, hook):
        self.hooks, self.id = hooks, next(self._ids)
        hooks[self.id] = hook

    def remove(self) -> None:
        self.hooks.pop(self.id, None)


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
               "int32": "IntTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    `array` is the NumPy array (Chainer's name for it); `data` is PyTorch's: the same values as a
    Tensor that records no graph. `grad` is filled by `backward()` for tensors that require a
    gradient and were created by the user (leaves), accumulating across calls like PyTorch.
    `Tensor(array)` wraps an array without copying it; `minicnn.tensor(data)` copies.
    """

    __array_priority__ = 1000  # so `ndarray + Tensor` calls Tensor.__radd__
    _hooks = None  # leaf gradient hooks, made by register_hook

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.array = as_array(data, dtype)
        if requires_grad and not np.issubdtype(self.array.dtype, np.floating):
            raise TypeError(
                f"Tensor: only floating-point tensors can require gradients, got dtype {self.array.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        self.grad: Tensor | None = None
        self._ctx: Context | None = None  # the node that produced this tensor (None for leaves)
        self._output_index = 0
        self._retains_grad = False
        self._version_counter = VersionCounter()

    def _alias(self) -> Tensor:
        """A new leaf Tensor on the same memory and version counter, outside the graph."""
        alias = Tensor(self.array)
        alias._version_counter = self._version_counter
        return alias

    # ---- array-like attributes -------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """PyTorch's `.data`: a Tensor sharing this one's storage, outside the graph.

        Writes through it (`p.data.mul_(0.9)`, `w.data.normal_(0, 0.01)`) change this tensor and
        are invisible to autograd, as in PyTorch. minicnn's own code uses `.array`, the NumPy array.
        """
        return self._alias()

    @data.setter
    def data(self, value) -> None:
        # Only the values may change: a Tensor stored as the array, or a new shape or dtype, would
        # surface as an opaque error in some later layer.
        new = value.array if isinstance(value, Tensor) else value
        if not isinstance(new, np.ndarray):
            raise TypeError(f"Tensor.data: expected a Tensor or a NumPy array, got {type(value).__name__}")
        if new.shape != self.array.shape or new.dtype != self.array.dtype:
            raise ValueError(f"Tensor.data: expected shape {self.array.shape} and dtype {self.array.dtype}, "
                             f"got shape {new.shape} and dtype {new.dtype}")
        self.array = new

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """NumPy's view of a Tensor: its array, so np.asarray(t) and np.allclose(t, ...) work."""
        if copy:
            return np.array(self.array, dtype=dtype, copy=True)
        return self.array if dtype is None else self.array.astype(dtype, copy=False)

    @property
    def shape(self) -> tuple:
        return self.array.shape

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def device(self) -> device:
        return CPU

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        """The graph node that made this tensor (None for leaves)."""
        return self._ctx

    @property
    def _version(self) -> int:
        """How many times this tensor's memory was changed in place (PyTorch's `_version`)."""
        return self._version_counter.value

    def size(self, dim=None):
        """The shape as a `minicnn.Size` (a tuple), or the length of axis `dim`."""
        if dim is None:
            return Size(self.array.shape)
        if self.ndim == 0:
            raise IndexError(f"size({dim}): a 0-d tensor has no dimensions")
        return self.array.shape[normalize_axis(dim, self.ndim, "size")]

    def dim(self) -> int:
        """Number of axes (`ndim`)."""
        return self.array.ndim

    def numel(self) -> int:
        """Number of elements."""
        return self.array.size

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.array)

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.array

    def tolist(self):
        """The values as (nested) Python lists of Python numbers."""
        return self.array.tolist()

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.array.size != 1:
            raise ValueError(f"item(): tensor has {self.array.size} elements, expected exactly 1")
        return self.array.item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __format__(self, spec: str) -> str:
        # f"{loss:.4f}" formats the number, as for a torch scalar tensor
        return format(self.item(), spec) if spec and self.array.size == 1 else format(str(self), spec)

    def detach(self) -> Tensor:
        """A new leaf tensor sharing this one's data (and version counter), cut off from the graph."""
        return self._alias()

    def retain_grad(self) -> Tensor:
        """Keep `.grad` on this non-leaf tensor after backward (useful to look inside a net)."""
        if self._ctx is not None:
            self._retains_grad = True
            self._ctx.retained[self._output_index] = self
        return self

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and not np.issubdtype(self.array.dtype, np.floating):
            raise TypeError(f"requires_grad_: dtype {self.array.dtype} cannot require gradients")
        self.requires_grad = bool(flag)
        return self

    def register_hook(self, hook) -> RemovableHandle:
        """Call `hook(grad)` with this tensor's gradient during backward, before it is used.

        If the hook returns a Tensor (or array) it replaces the gradient. Works on leaves (the
        gradient is about to be accumulated into `.grad`) and on intermediate tensors (the
        gradient is about to flow into the op that made them). `handle.remove()` undoes it.
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        if self._ctx is not None:
            return RemovableHandle(self._ctx.hooks.setdefault(self._output_index, {}), hook)
        if self._hooks is None:
            self._hooks = {}
        return RemovableHandle(self._hooks, hook)

    # ---- dtype and device conversions ---------------------------------------------------------
    def astype(self, dtype) -> Tensor:
        """Cast to another dtype (differentiable: the gradient is cast back)."""
        return F.cast(self, dtype)

    def type(self, dtype=None):
        """With a dtype: cast to it. Without: the type name, e.g. 'minicnn.FloatTensor'."""
        if dtype is None:
            return "minicnn." + _TYPE_NAMES.get(self.dtype.name, self.dtype.name)
        return self.astype(dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def long(self) -> Tensor:
        return self.astype(np.int64)

    def int(self) -> Tensor:
        return self.astype(np.int32)

    def bool(self) -> Tensor:
        return self.astype(np.bool_)

    def clone(self) -> Tensor:
        """A copy with its own memory, still in the graph (the gradient flows back to this one)."""
        return F.cast(self, self.dtype)

    def to(self, *args, **kwargs) -> Tensor:
        """to(dtype), to("cpu"), to("cpu", dtype), to(other_tensor): this tensor if nothing
        changes, else a converted copy. minicnn runs on the CPU: other devices are refused."""
        dtype, copy = to_arguments(args, kwargs)
        if dtype is not None and np.dtype(dtype) != self.dtype:
            return self.astype(dtype)
        return self.clone() if copy else self

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args, **kwargs):
        raise ValueError("cuda(): minicnn runs on the CPU only")

    def __repr__(self) -> str:
        body = np.array2string(self.array, separator=", ", prefix="tensor(")
        usual = self.dtype in (_default_dtype, np.int64, np.bool_)
        extra = "" if usual else f", dtype={self.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn={self._ctx.function.__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ---- backward ---------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Back-propagate from this tensor, accumulating into the `.grad` of every leaf.

        grad: dL/dself, same shape as self; may be omitted for a one-element tensor (then 1).
        retain_graph: keep the saved arrays so backward can run through the graph again.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad and has no graph "
                "(was it computed under no_grad(), or from inputs without requires_grad=True?)"
            )
        if grad is None:
            if self.array.size != 1:
                raise RuntimeError(
                    f"backward(): grad can be omitted only for a one-element tensor, "
                    f"this one has shape {self.shape}"
                )
            grad = np.ones_like(self.array)
        else:
            grad = as_array(grad, self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {grad.shape}, expected {self.shape}")
        if self._ctx is None:
            _accumulate_leaf(self, grad)
            return
        run_backward(self._ctx, self._output_index, grad, retain_graph)

    # ---- in-place operations ------------------------------------------------------------------
    def _recording_inplace(self, op: str, *others) -> bool:
        """Whether an in-place op must enter the graph; refuses what PyTorch refuses."""
        involved = self.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in others)
        if not (is_grad_enabled() and involved):
            return False
        if self.requires_grad and self._ctx is None:
            raise RuntimeError(
                f"{op}: a leaf Variable that requires grad is being used in an in-place operation; "
                "change parameters inside `with minicnn.no_grad():` or through .data "
                "(e.g. p.data -= lr * p.grad)"
            )
        if self._version_counter.has_views:
            raise RuntimeError(
                f"{op}: this tensor shares its memory with a view in the graph (made by reshape, "
                "transpose, split, ...); an in-place change would not reach the other's gradient. "
                "Use the out-of-place form instead (x = x + y rather than x += y)"
            )
        return True

    def _inplace(self, op: str, compute, *others) -> Tensor:
        """Write compute(self, *others) into this tensor's memory and bump its version.

        While recording, compute runs on a copy of the old values that holds this tensor's old
        place in the graph, and this tensor then continues from the new node. Ops that already
        consumed this tensor keep their edge to the old node (edges are fixed at forward), so
        their gradients are unaffected.
        """
        if not self._recording_inplace(op, *others):
            self._store(op, compute(self, *others).array)
            return self
        old = Tensor(self.array.copy())
        old.requires_grad, old._ctx, old._output_index = self.requires_grad, self._ctx, self._output_index
        result = compute(old, *others)
        self._store(op, result.array)
        self.requires_grad = result.requires_grad
        self._ctx, self._output_index = result._ctx, result._output_index
        return self

    def _store(self, op: str, values: np.ndarray) -> None:
        if values.shape != self.shape:
            raise ValueError(f"{op}: the result has shape {values.shape}, but an in-place op keeps this "
                             f"tensor's shape {self.shape} (the other operand may only broadcast to it)")
        if not np.can_cast(values.dtype, self.dtype, "same_kind"):
            raise TypeError(f"{op}: the result has dtype {values.dtype}, which cannot be stored in place "
                            f"in a tensor of dtype {self.dtype}")
        self._check_writeable(op)
        self.array[...] = values
        self._version_counter.value += 1

    def _check_writeable(self, op: str) -> None:
        if not self.array.flags.writeable:
            raise ValueError(f"{op}: this tensor's memory is read-only (a NumPy broadcast view or a "
                             "read-only buffer); clone() it first")

    def _assign(self, op: str, index, value) -> Tensor:
        """self[index] = value in place, value broadcast and cast to this tensor's dtype."""
        index = F.index_arrays(index)
        if self._recording_inplace(op, value):
            return self._inplace(op, lambda t, v: F.setitem(t, index, v), value)
        self._check_writeable(op)
        try:
            self.array[index] = value.array if isinstance(value, Tensor) else value
        except (ValueError, IndexError, TypeError) as error:
            raise type(error)(f"{op}: {error} (tensor shape {self.shape})") from None
        self._version_counter.value += 1
        return self

    def __setitem__(self, index, value) -> None:
        self._assign("setitem", index, value)

    def add_(self, other, *, alpha=1) -> Tensor:
        """self += alpha * other, in place."""
        return self._inplace("add_", lambda t, o: F.add(t, o, alpha=alpha), other)

    def sub_(self, other, *, alpha=1) -> Tensor:
        """self -= alpha * other, in place."""
        return self._inplace("sub_", lambda t, o: F.sub(t, o, alpha=alpha), other)

    def mul_(self, other) -> Tensor:
        """self *= other, in place."""
        return self._inplace("mul_", F.mul, other)

    def div_(self, other) -> Tensor:
        """self /= other, in place."""
        return self._inplace("div_", F.div, other)

    def clamp_(self, min=None, max=None) -> Tensor:
        """Clamp into [min, max], in place."""
        return self._inplace("clamp_", F.clamp, min, max)

    clip_ = clamp_

    def relu_(self) -> Tensor:
        """max(self, 0), in place (what nn.ReLU(inplace=True) does)."""
        return self._inplace("relu_", F.relu)

    def fill_(self, value) -> Tensor:
        """Set every element to `value`."""
        return self._assign("fill_", Ellipsis, value)

    def zero_(self) -> Tensor:
        """Set every element to 0."""
        return self._assign("zero_", Ellipsis, 0)

    def copy_(self, src) -> Tensor:
        """Copy the values of `src` (broadcast to this shape, cast to this dtype) into this tensor."""
        return self._assign("copy_", Ellipsis, src)

    def normal_(self, mean=0.0, std=1.0, *, generator=None) -> Tensor:
        """Fill with samples of N(mean, std^2) drawn from `generator` (None: the default one)."""
        values = get_generator(generator).normal(mean, std, self.shape)
        return self._assign("normal_", Ellipsis, values)

    def uniform_(self, from_=0.0, to=1.0, *, generator=None) -> Tensor:
        """Fill with samples of U[from_, to) drawn from `generator` (None: the default one)."""
        values = get_generator(generator).uniform(from_, to, self.shape)
        return self._assign("uniform_", Ellipsis, values)

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    # ---- operators (each one is a Function in minicnn.functional) ---------------------------
    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(other, self)

    def __sub__(self, other):
        return F.sub(self, other)

    def __rsub__(self, other):
        return F.sub(other, self)

    def __mul__(self, other):
        return F.mul(self, other)

    def __rmul__(self, other):
        return F.mul(other, self)

    def __truediv__(self, other):
        return F.div(self, other)

    def __rtruediv__(self, other):
        return F.div(other, self)

    def __pow__(self, other):
        return F.pow(self, other)

    def __rpow__(self, other):
        return F.pow(other, self)

    def __neg__(self):
        return F.neg(self)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    def __getitem__(self, index):
        return F.getitem(self, index)

    # Comparisons give boolean tensors and carry no gradient.
    def _compare(self, other, ufunc, op: str):
        try:
            other = as_array(other)
        except TypeError:
            return NotImplemented  # t == None is False, as for any object
        broadcast_shape(op, self.shape, other.shape)
        return Tensor(ufunc(self.array, other))

    def eq(self, other):
        return self._compare(other, np.equal, "eq")

    def ne(self, other):
        return self._compare(other, np.not_equal, "ne")

    def lt(self, other):
        return self._compare(other, np.less, "lt")

    def le(self, other):
        return self._compare(other, np.less_equal, "le")

    def gt(self, other):
        return self._compare(other, np.greater, "gt")

    def ge(self, other):
        return self._compare(other, np.greater_equal, "ge")

    __eq__, __ne__, __lt__, __le__, __gt__, __ge__ = eq, ne, lt, le, gt, ge
    __hash__ = object.__hash__  # tensors are graph nodes: hash by identity

    def __bool__(self):
        if self.array.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.array.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.array)

    def all(self, dim=None, keepdim=False):
        """Whether every element (along `dim`) is non-zero, as a bool tensor."""
        return F.all(self, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        """Whether some element (along `dim`) is non-zero, as a bool tensor."""
        return F.any(self, dim, keepdim)

    # ---- methods ----------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, **kwargs):
        return F.sum(self, dim, keepdim, **kwargs)

    def mean(self, dim=None, keepdim=False, **kwargs):
        return F.mean(self, dim, keepdim, **kwargs)

    def max(self, dim=None, keepdim=False, **kwargs):
        """max(): the largest value; max(dim): (values, indices); max(other): elementwise maximum."""
        return F.max(self, dim, keepdim, **kwargs)

    def min(self, dim=None, keepdim=False, **kwargs):
        """min(): the smallest value; min(dim): (values, indices); min(other): elementwise minimum."""
        return F.min(self, dim, keepdim, **kwargs)

    def amax(self, dim=(), keepdim=False):
        return F.amax(self, dim, keepdim)

    def amin(self, dim=(), keepdim=False):
        return F.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False, **kwargs):
        return F.argmax(self, dim, keepdim, **kwargs)

    def argmin(self, dim=None, keepdim=False, **kwargs):
        return F.argmin(self, dim, keepdim, **kwargs)

    def norm(self, p="fro", dim=None, keepdim=False):
        """The p-norm over dim (every entry when None), as minicnn.norm: p a number or "fro"."""
        return F.reduction.norm(self, p, dim, keepdim)  # not F.norm: that is the normalisation module

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Variance over dim with `correction` (default 1, unbiased), as minicnn.var."""
        return F.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Standard deviation over dim with `correction` (default 1), as minicnn.std."""
        return F.std(self, dim, unbiased, keepdim, correction=correction)

    def sort(self, dim=-1, descending=False, stable=False):
        return F.sort(self, dim, descending, stable=stable)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        return F.topk(self, k, dim, largest, sorted)

    def reshape(self, *shape, **kwargs):
        return F.reshape(self, *shape, **kwargs)

    def view(self, *shape):
        return F.reshape(self, *shape)

    def transpose(self, dim0=None, dim1=None):
        return F.transpose(self, dim0, dim1)

    def t(self):
        """The transpose of a matrix (a tensor with fewer than 2 axes is returned as is)."""
        if self.ndim > 2:
            raise ValueError(f"t(): expects a tensor with at most 2 dimensions, got shape {self.shape}")
        return F.transpose(self, 0, 1) if self.ndim == 2 else self

    @property
    def T(self):
        return F.transpose(self)

    def permute(self, *dims, **kwargs):
        return F.permute(self, *dims, **kwargs)

    def flatten(self, start_dim=0, end_dim=-1):
        return F.flatten(self, start_dim, end_dim)

    def squeeze(self, dim=None, **kwargs):
        return F.squeeze(self, dim, **kwargs)

    def unsqueeze(self, dim=None, **kwargs):
        return F.unsqueeze(self, dim, **kwargs)

    def exp(self):
        return F.exp(self)

    def log(self):
        return F.log(self)

    def sqrt(self):
        return F.sqrt(self)

    def abs(self):
        return F.abs(self)

    def pow(self, exponent):
        return F.pow(self, exponent)

    def add(self, other, *, alpha=1):
        return F.add(self, other, alpha=alpha)

    def sub(self, other, *, alpha=1):
        return F.sub(self, other, alpha=alpha)

    def mul(self, other):
        return F.mul(self, other)

    def div(self, other):
        return F.div(self, other)

    def neg(self):
        return F.neg(self)

    def matmul(self, other):
        return F.matmul(self, other)

    def mm(self, mat2):
        """Matrix product of two 2-D tensors (torch.mm)."""
        return F.mm(self, mat2)

    def bmm(self, mat2):
        """Batched matrix product of two 3-D tensors (torch.bmm)."""
        return F.bmm(self, mat2)

    def contiguous(self):
        """This tensor: minicnn's ops take any memory layout (`.contiguous().view(...)` habits)."""
        return self

    def clip(self, min=None, max=None):
        return F.clip(self, min, max)

    clamp = clip

    def tanh(self):
        return F.tanh(self)

    def sigmoid(self):
        return F.sigmoid(self)

    def relu(self):
        return F.relu(self)

    def leaky_relu(self, negative_slope=0.01):
        return F.leaky_relu(self, negative_slope)

    def split(self, split_size_or_sections, dim=None, **kwargs):
        return F.split(self, split_size_or_sections, dim, **kwargs)

    def softmax(self, dim=None, **kwargs):
        return F.softmax(self, dim, **kwargs)

    def log_softmax(self, dim=None, **kwargs):
        return F.log_softmax(self, dim, **kwargs)


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """A new leaf Tensor holding a copy of `data`, as torch.tensor.

    Python floats become the default dtype (float32); NumPy arrays keep their dtype. A list of
    tensors is stacked (their values, copied, outside the graph). `Tensor(array)` and
    `from_numpy(array)` share the array's memory instead.
    """
    try:
        values = as_array(data, dtype)
    except (TypeError, ValueError) as error:
        raise type(error)(f"tensor: {error}") from None
    return Tensor(np.array(values, copy=True), requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing `array`'s memory, as torch.from_numpy: writes through either are seen by both.

    Writes made through NumPy bypass the version counter, so autograd cannot notice them: do not
    change the array while a graph that used the tensor still waits for backward.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


class Edge(NamedTuple):
    """Where the gradient of one input goes: output `index` of `node`, or the leaf tensor `leaf`."""

    node: "Context | None"
    index: int
    leaf: "Tensor | None"


def _edge(t) -> Edge | None:
    if t is None or not t.requires_grad:
        return None
    if t._ctx is None:
        return Edge(None, 0, t)
    return Edge(t._ctx, t._output_index, None)


class Context:
    """A node of the backward graph: one application of a Function.

    `forward` may stash arrays with `save_for_backward` and any other values as attributes.
    The edges to the inputs are fixed here, at forward, so an in-place op applied to an input
    afterwards cannot redirect this node's gradients. A node holds the nodes that made its inputs
    (or the leaf tensors), never the input tensors themselves: as in PyTorch, an intermediate
    tensor's memory is kept for backward only if some node saved it (a ReLU's output, a
    convolution's input), not merely because a later op read it (a batch norm's output).
    """

    def __init__(self, function, inputs):
        """inputs: one entry per positional argument of the op, a Tensor or None."""
        self.function = function
        self.needs_input_grad = tuple(t is not None and t.requires_grad for t in inputs)
        self.edges = tuple(_edge(t) for t in inputs)
        self.input_meta = tuple(None if t is None else (t.shape, t.dtype) for t in inputs)
        self.saved_tensors: tuple = ()
        self.saved_versions: list = []  # (counter, version, which tensor) for each one saved
        self.outputs_meta: list = []  # (shape, dtype) of each output, to build zero gradients
        self.retained: dict = {}  # output index -> non-leaf Tensor whose grad is kept
        self.hooks: dict = {}  # output index -> {handle id: hook}
        self.freed = False

    def save_for_backward(self, *arrays) -> None:
        self.saved_tensors = arrays

    def __repr__(self) -> str:
        return f"<{self.function.__name__} backward node>"

    def free(self) -> None:
        """Drop everything forward stashed and the links to the inputs, so the graph's memory is
        released as PyTorch's is after backward; keep only what error messages need."""
        keep = ("function", "needs_input_grad", "input_meta", "outputs_meta")
        for name in list(vars(self)):
            if name not in keep:
                delattr(self, name)
        self.edges, self.saved_tensors, self.saved_versions = (), (), []
        self.retained, self.hooks = {}, {}
        self.freed = True


class Function:
    """The public way to write a differentiable op, shaped like `torch.autograd.Function`.

    Subclasses define two static methods working on NumPy arrays:

        forward(ctx, *args, **kwargs) -> array or tuple of arrays
        backward(ctx, *grad_outputs)  -> one gradient (array or None) per positional argument

    and are called as `MyOp.apply(*args, **kwargs)`. Tensor arguments reach `forward` as their
    arrays; other arguments pass through unchanged. Keyword arguments are never differentiated.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        tensors = tuple(a if isinstance(a, Tensor) else None for a in args)
        arrays = tuple(a.array if isinstance(a, Tensor) else a for a in args)
        record = is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
        ctx = Context(cls, tensors)
        prof, start = _profiler.current, time.perf_counter()
        output = cls.forward(ctx, *arrays, **kwargs)
        if prof is not None:
            prof.add_op(ctx, "forward", start)
        multiple = isinstance(output, tuple)
        outputs = output if multiple else (output,)
        results = []
        for index, out in enumerate(outputs):
            out = np.asarray(out)
            result = Tensor(out)
            base = _viewed_input(out, tensors)
            if base is not None:  # a view of an input: one memory, one version counter
                result._version_counter = base._version_counter
            if record and np.issubdtype(out.dtype, np.floating):
                result.requires_grad = True
                result._ctx = ctx
                result._output_index = index
                if base is not None:
                    base._version_counter.has_views = True
            results.append(result)
            ctx.outputs_meta.append((out.shape, out.dtype))
        if record:
            _guard_saved(ctx, [a for a in args if isinstance(a, np.ndarray)], tensors, results)
        return tuple(results) if multiple else results[0]


def _memory_of(array: np.ndarray):
    """The array owning `array`'s memory (NumPy points a view's `base` straight at it)."""
    return array.base if isinstance(array.base, np.ndarray) else array


def _viewed_input(out: np.ndarray, tensors: tuple):
    """The input tensor whose memory `out` views, if any (fresh outputs own their memory)."""
    if not isinstance(out.base, np.ndarray):
        return next((t for t in tensors if t is not None and t.array is out), None)
    memory = out.base
    return next((t for t in tensors if t is not None and _memory_of(t.array) is memory), None)


def _guard_saved(ctx: Context, plain_arrays: list, tensors: tuple, results: list) -> None:
    """Protect what forward saved from later writes, so backward uses the values forward saw.

    A saved array on the memory of a plain NumPy argument is copied: the caller may reuse that
    buffer (`loss = f(buf, w); buf[...] = 0; loss.backward()`) and a NumPy array has no version
    counter. For a saved array on a Tensor's memory (input or output), the tensor's version is
    noted; `run_backward` checks it. "Saved" covers save_for_backward and array attributes.
    """
    stashed = [name for name, value in vars(ctx).items() if isinstance(value, np.ndarray)]
    if plain_arrays:
        plain = {id(_memory_of(a)) for a in plain_arrays}

        def owned(value):
            if isinstance(value, np.ndarray) and id(_memory_of(value)) in plain:
                return value.copy()
            return value

        ctx.saved_tensors = tuple(owned(v) for v in ctx.saved_tensors)
        for name in stashed:
            setattr(ctx, name, owned(getattr(ctx, name)))
    saved = [v for v in ctx.saved_tensors if isinstance(v, np.ndarray)] + [getattr(ctx, n) for n in stashed]
    if not saved:
        return
    memories = {id(_memory_of(v)) for v in saved}
    for role, group in (("input", tensors), ("output", results)):
        for i, t in enumerate(group):
            if t is not None and id(_memory_of(t.array)) in memories:
                ctx.saved_versions.append((t._version_counter, t._version_counter.value, f"{role} {i}"))


def _run_hooks(hooks: dict, grad: np.ndarray) -> np.ndarray:
    for hook in list(hooks.values()):
        replaced = hook(Tensor(grad))
        if replaced is not None:
            replaced = as_array(replaced)
            if replaced.shape != grad.shape:
                raise RuntimeError(f"a gradient hook returned shape {replaced.shape}, expected {grad.shape}")
            grad = replaced
    return grad


def _accumulate_leaf(leaf: Tensor, grad: np.ndarray) -> None:
    if leaf._hooks:
        grad = _run_hooks(leaf._hooks, grad)
    if leaf.grad is None:
        leaf.grad = Tensor(np.array(grad, dtype=leaf.dtype, copy=True))
    else:
        leaf.grad.array = leaf.grad.array + grad


def _topological_order(root: Context) -> list:
    """Nodes reachable from `root`, each after every node that consumes its outputs."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        # Marked when expanded, not when pushed: a node reached again along a longer path must
        # finish after that path's nodes too (a tensor used twice, e.g. x and mean(x)).
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for edge in node.edges:
            if edge is not None and edge.node is not None and id(edge.node) not in visited:
                stack.append((edge.node, False))
    order.reverse()
    return order


def _check_versions(node: Context, name: str) -> None:
    for counter, version, which in node.saved_versions:
        if counter.value != version:
            raise RuntimeError(
                f"backward(): one of the variables needed for gradient computation has been modified "
                f"by an inplace operation: {which} of {name}, saved by {name} for its backward at "
                f"version {version}, is now at version {counter.value}. Use the out-of-place form "
                "(x = x + y rather than x += y), or clone() the tensor before changing it"
            )


def run_backward(root: Context, output_index: int, grad: np.ndarray, retain_graph: bool) -> None:
    """Propagate `grad` (the gradient of root's output `output_index`) down to the leaves."""
    pending = {id(root): {output_index: grad}}
    leaf_grads = {}  # id(leaf) -> [leaf, gradient summed over every path]
    for node in _topological_order(root):
        grads_out = pending.pop(id(node), {})
        name = node.function.__name__
        if node.freed:
            raise RuntimeError(
                f"backward(): the graph through {name} was already freed by an earlier backward; "
                "call backward(retain_graph=True) the first time to go through it again"
            )
        _check_versions(node, name)
        for index, hooks in node.hooks.items():
            if index in grads_out and hooks:
                grads_out[index] = _run_hooks(hooks, grads_out[index])
        for index, kept in node.retained.items():
            if index in grads_out:
                _accumulate_leaf(kept, grads_out[index])
        full = tuple(
            grads_out[i] if i in grads_out else np.zeros(shape, dtype)
            for i, (shape, dtype) in enumerate(node.outputs_meta)
        )
        prof, start = _profiler.current, time.perf_counter()
        grads_in = node.function.backward(node, *full)
        if prof is not None:
            prof.add_op(node, "backward", start)
        if not isinstance(grads_in, tuple):
            grads_in = (grads_in,)
        if len(grads_in) != len(node.edges):
            raise RuntimeError(
                f"{name}.backward returned {len(grads_in)} gradients, expected {len(node.edges)} "
                "(one per positional argument of forward, None where there is none)"
            )
        for position, (edge, g) in enumerate(zip(node.edges, grads_in)):
            if edge is None or g is None:
                continue
            g = np.asarray(g)
            shape, dtype = node.input_meta[position]
            if g.shape != shape:
                raise RuntimeError(
                    f"{name}.backward returned a gradient of shape {g.shape} for argument "
                    f"{position}, whose shape is {shape}"
                )
            if g.dtype != dtype:
                g = g.astype(dtype)
            if edge.node is None:
                entry = leaf_grads.setdefault(id(edge.leaf), [edge.leaf, None])
                entry[1] = g if entry[1] is None else entry[1] + g
            else:
                slot = pending.setdefault(id(edge.node), {})
                slot[edge.index] = g if edge.index not in slot else slot[edge.index] + g
        if not retain_graph:
            node.free()
    for leaf, g in leaf_grads.values():
        _accumulate_leaf(leaf, g)


from . import functional as F  # noqa: E402  (the operators above are defined there)
from .functional._util import broadcast_shape, normalize_axis  # noqa: E402
from .random import get_generator  # noqa: E402

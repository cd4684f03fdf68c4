"""Tensor, Function and the backward graph walk: all of minicnn's autograd in one file.

A `Tensor` wraps a NumPy array. Every differentiable operation is a `Function` whose `forward`
and `backward` work on plain NumPy arrays; `Function.apply` runs `forward` and, when a gradient
is wanted, records a `Context` node that remembers the inputs and whatever `forward` saved.
`Tensor.backward` then visits those nodes once each, in reverse topological order, with an
explicit stack (no recursion, so a 1,000-layer chain is fine).
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

DEFAULT_DTYPE = np.float32

_state = threading.local()


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
    """Convert a Tensor, array, list or Python number to a NumPy array.

    Python floats (and lists of them) become float32, minicnn's default; NumPy arrays keep their
    dtype, so float64 data stays float64.
    """
    if isinstance(value, Tensor):
        array = value.array
    elif isinstance(value, np.ndarray):
        array = value
    else:
        array = np.asarray(value)
        if array.dtype == np.float64 and not isinstance(value, np.generic):
            array = array.astype(DEFAULT_DTYPE)
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return array


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    `array` is the NumPy array (Chainer's name for it); `data` is PyTorch's: the same values as a
    Tensor that records no graph. `grad` is filled by `backward()` for tensors that require a
    gradient and were created by the user (leaves), accumulating across calls like PyTorch.
    """

    __array_priority__ = 1000  # so `ndarray + Tensor` calls Tensor.__radd__

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

    # ---- array-like attributes -------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """PyTorch's `.data`: a Tensor sharing this one's storage, outside the graph.

        Writes through it (`p.data.mul_(0.9)`, `w.data.normal_(0, 0.01)`) change this tensor and
        are invisible to autograd, as in PyTorch. minicnn's own code uses `.array`, the NumPy array.
        """
        return Tensor(self.array)

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
    def size(self) -> int:
        return self.array.size

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def __len__(self) -> int:
        return len(self.array)

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.array

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.array.size != 1:
            raise ValueError(f"item(): tensor has {self.array.size} elements, expected exactly 1")
        return self.array.item()

    def detach(self) -> Tensor:
        """A new leaf tensor sharing this one's data, cut off from the graph."""
        return Tensor(self.array)

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

    def astype(self, dtype) -> Tensor:
        """Cast to another dtype (differentiable: the gradient is cast back)."""
        return F.cast(self, dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def __repr__(self) -> str:
        body = np.array2string(self.array, separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}" if self.dtype != DEFAULT_DTYPE else ""
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
    def __lt__(self, other):
        return Tensor(self.array < as_array(other))

    def __le__(self, other):
        return Tensor(self.array <= as_array(other))

    def __gt__(self, other):
        return Tensor(self.array > as_array(other))

    def __ge__(self, other):
        return Tensor(self.array >= as_array(other))

    def __eq__(self, other):
        return Tensor(self.array == as_array(other))

    def __ne__(self, other):
        return Tensor(self.array != as_array(other))

    __hash__ = object.__hash__  # tensors are graph nodes: hash by identity

    def __bool__(self):
        if self.array.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.array.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.array)

    def any(self) -> bool:
        return bool(self.array.any())

    def all(self) -> bool:
        return bool(self.array.all())

    # ---- methods ----------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False, **kwargs):
        return F.sum(self, axis, keepdims, **kwargs)

    def mean(self, axis=None, keepdims=False, **kwargs):
        return F.mean(self, axis, keepdims, **kwargs)

    def max(self, axis=None, keepdims=False, **kwargs):
        return F.max(self, axis, keepdims, **kwargs)

    def min(self, axis=None, keepdims=False, **kwargs):
        return F.min(self, axis, keepdims, **kwargs)

    def reshape(self, *shape):
        return F.reshape(self, *shape)

    def view(self, *shape):
        return F.reshape(self, *shape)

    def transpose(self, dim0=None, dim1=None):
        return F.transpose(self, dim0, dim1)

    @property
    def T(self):
        return F.transpose(self)

    def permute(self, *dims):
        return F.permute(self, *dims)

    def flatten(self, start_dim=0, end_dim=-1):
        return F.flatten(self, start_dim, end_dim)

    def squeeze(self, axis=None, **kwargs):
        return F.squeeze(self, axis, **kwargs)

    def unsqueeze(self, axis=None, **kwargs):
        return F.unsqueeze(self, axis, **kwargs)

    def exp(self):
        return F.exp(self)

    def log(self):
        return F.log(self)

    def sqrt(self):
        return F.sqrt(self)

    def abs(self):
        return F.abs(self)

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

    def argmax(self, axis=None):
        return Tensor(self.array.argmax(axis))


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """A new leaf Tensor holding a copy of `data`, as torch.tensor (Python floats become float32;
    NumPy arrays keep their dtype). `Tensor(array)` wraps an array without copying it."""
    return Tensor(np.array(as_array(data, dtype), copy=True), requires_grad=requires_grad)


class Context:
    """A node of the backward graph: one application of a Function.

    `forward` may stash arrays with `save_for_backward` and any other values as attributes.
    """

    def __init__(self, function, inputs):
        self.function = function
        self.inputs = inputs  # one entry per positional argument: a Tensor or None
        self.needs_input_grad = tuple(t is not None and t.requires_grad for t in inputs)
        self.saved_tensors: tuple = ()
        self.outputs_meta: list = []  # (shape, dtype) of each output, to build zero gradients
        self.retained: dict = {}  # output index -> non-leaf Tensor whose grad is kept
        self.freed = False

    def save_for_backward(self, *arrays) -> None:
        self.saved_tensors = arrays

    def free(self) -> None:
        """Drop everything forward stashed, so the graph's memory is released."""
        for name in list(vars(self)):
            if name not in ("function", "inputs", "needs_input_grad", "outputs_meta", "retained"):
                delattr(self, name)
        self.saved_tensors = ()
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
        output = cls.forward(ctx, *arrays, **kwargs)
        multiple = isinstance(output, tuple)
        outputs = output if multiple else (output,)
        results = []
        for index, out in enumerate(outputs):
            out = np.asarray(out)
            result = Tensor(out)
            if record and np.issubdtype(out.dtype, np.floating):
                result.requires_grad = True
                result._ctx = ctx
                result._output_index = index
            results.append(result)
            ctx.outputs_meta.append((out.shape, out.dtype))
        if not record:
            ctx.free()
        return tuple(results) if multiple else results[0]


def _accumulate_leaf(leaf: Tensor, grad: np.ndarray) -> None:
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
        for t in node.inputs:
            parent = t._ctx if t is not None else None
            if parent is not None and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


def run_backward(root: Context, output_index: int, grad: np.ndarray, retain_graph: bool) -> None:
    """Propagate `grad` (the gradient of root's output `output_index`) down to the leaves."""
    pending = {id(root): {output_index: grad}}
    for node in _topological_order(root):
        grads_out = pending.pop(id(node), {})
        name = node.function.__name__
        if node.freed:
            raise RuntimeError(
                f"backward(): the graph through {name} was already freed by an earlier backward; "
                "call backward(retain_graph=True) the first time to go through it again"
            )
        for index, kept in node.retained.items():
            if index in grads_out:
                _accumulate_leaf(kept, grads_out[index])
        full = tuple(
            grads_out[i] if i in grads_out else np.zeros(shape, dtype)
            for i, (shape, dtype) in enumerate(node.outputs_meta)
        )
        grads_in = node.function.backward(node, *full)
        if not isinstance(grads_in, tuple):
            grads_in = (grads_in,)
        if len(grads_in) != len(node.inputs):
            raise RuntimeError(
                f"{name}.backward returned {len(grads_in)} gradients, expected {len(node.inputs)} "
                "(one per positional argument of forward, None where there is none)"
            )
        for position, (t, g) in enumerate(zip(node.inputs, grads_in)):
            if t is None or g is None or not t.requires_grad:
                continue
            g = np.asarray(g)
            if g.shape != t.shape:
                raise RuntimeError(
                    f"{name}.backward returned a gradient of shape {g.shape} for argument "
                    f"{position}, whose shape is {t.shape}"
                )
            if g.dtype != t.dtype:
                g = g.astype(t.dtype)
            if t._ctx is None:
                _accumulate_leaf(t, g)
            else:
                slot = pending.setdefault(id(t._ctx), {})
                i = t._output_index
                slot[i] = g if i not in slot else slot[i] + g
        if not retain_graph:
            node.free()


from . import functional as F  # noqa: E402  (the operators above are defined there)

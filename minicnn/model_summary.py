"""Layer-by-layer shapes, parameters, multiply-accumulates, memory and receptive fields.

`summary(model, input_shape)` runs one forward pass at batch 1 with hooks on every module and
returns a `Summary`: a row per layer call, nested as the modules are, and the totals. input_shape
is one sample's shape or, as torchinfo takes it, a batch's (see `summary` for how it tells).

Conventions (those of torchvision's model tables):
- MACs count the multiply-accumulates of convolutions and fully connected layers only (not
  biases, activations, normalisation or pooling); FLOPs = 2 x MACs.
- Parameters are counted once per module, BatchNorm's running statistics (buffers) not at all.
- Memory is the bytes of each layer's output at batch 1; the activation total sums the
  innermost layers' outputs (what a forward pass keeps for backward).
- The receptive field is the size, in input pixels, of the window one output position sees,
  per spatial axis, with its jump j (the distance in input pixels between neighbouring output
  positions, the effective stride) and start (the input coordinate of the centre of the first
  output position's window; input pixel i is at coordinate i). For a layer of kernel k,
  dilation d, stride s and padding p before the axis:
      r_out = r_in + (k - 1) d j_in,   j_out = j_in s,   start_out = start_in + ((k - 1) d / 2 - p) j_in
  (Araujo, Norris & Sim, "Computing receptive fields of convolutional neural networks", 2019).
  Where branches meet (concatenation, residual sums) the branch with the largest field is kept;
  a layer that sees its whole input (fully connected, global pooling) sees the whole image,
  centred on the image's centre.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import nn
from .tensor import Tensor

# Layers that mix the whole input: their output sees the whole image.
_GLOBAL = ("Linear", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
           "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "GlobalAvgPool2d")


@dataclass
class LayerRow:
    """One call of one module during the summary's forward pass."""

    name: str
    type: str
    depth: int
    output_shape: tuple = ()
    params: int = 0
    macs: int = 0
    memory: int = 0
    receptive_field: tuple | None = None
    jump: tuple | None = None
    start: tuple | None = None
    is_leaf: bool = True
    children: list = field(default_factory=list, repr=False)


@dataclass
class Summary:
    """What `summary` measured. Rows are in call order, parents before their children."""

    rows: list
    input_shape: tuple
    total_params: int
    trainable_params: int
    total_macs: int
    param_memory: int
    activation_memory: int
    input_memory: int

    @property
    def total_flops(self) -> int:
        return 2 * self.total_macs

    def layer(self, name: str) -> LayerRow:
        """The (first) row of the module called `name` (its dotted name in the model)."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"summary: no layer named {name!r}")

    def leaves(self) -> list:
        """Rows of the innermost layers only."""
        return [row for row in self.rows if row.is_leaf]

    def table(self, max_depth: int | None = None) -> str:
        """The printed table; `max_depth` hides rows nested deeper than that."""
        header = ("Layer (type)", "Output shape", "Params", "MACs", "Memory", "RF", "Jump", "Start")
        lines = []
        for row in self.rows:
            if max_depth is not None and row.depth > max_depth:
                continue
            label = "  " * (row.depth - 1) + f"{row.name} ({row.type})"
            lines.append((label, _shape_text(row.output_shape), f"{row.params:,}", f"{row.macs:,}",
                          _bytes_text(row.memory), _rf_text(row.receptive_field), _rf_text(row.jump),
                          _rf_text(row.start)))
        widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
                  for i, h in enumerate(header)]

        def fmt(cells):
            return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        rule = "-" * len(fmt(header))
        out = [rule, fmt(header), rule] + [fmt(line) for line in lines] + [rule]
        out += [
            f"Input shape: {_shape_text(self.input_shape)} (batch 1), {_bytes_text(self.input_memory)}",
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Total MACs: {self.total_macs:,} ({self.total_macs / 1e9:.3f} G; FLOPs = 2 x MACs = "
            f"{self.total_flops / 1e9:.3f} G)",
            f"Parameter memory: {_bytes_text(self.param_memory)}",
            f"Activation memory (forward, batch 1): {_bytes_text(self.activation_memory)}",
            rule,
        ]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()


def summary(model, input_shape, *, batched: bool | None = None, dtype=np.float32, mode: str = "eval",
            max_depth=None, verbose: bool = True) -> Summary:
    """Run `model` once on zeros of shape (1, *sample_shape) and describe every layer.

    input_shape: one sample's shape, e.g. (3, 224, 224), or the shape of a batch, e.g.
    (16, 3, 224, 224), as torchinfo takes it; the batch size is not used, the table is per sample.
    batched: True if input_shape starts with the batch axis, False if it is one sample. None (the
    default) decides from the model's first layer that fixes the number of input axes (one whose
    name ends in 1d, 2d or 3d, except BatchNorm1d: Conv2d takes (C, H, W) samples): one axis more
    means a batch. When that first layer is, say, a Linear (any number of axes) and input_shape
    has more than one axis, the question cannot be decided and a ValueError asks for `batched`.
    mode: "eval" (default, the convention of published tables: no auxiliary heads, no dropout)
    or "train"; the model's own mode is restored afterwards.
    verbose: print the table (to depth `max_depth`) as well as returning it.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"summary: expected an nn.Module, got {type(model).__name__}")
    input_shape = tuple(int(n) for n in input_shape)
    if not input_shape or min(input_shape) <= 0:
        raise ValueError(f"summary: input_shape must be positive sizes, got {input_shape}")
    if batched is None:
        batched = _includes_batch(model, input_shape)
    if batched:
        if len(input_shape) < 2:
            raise ValueError(f"summary: batched=True needs (batch, *sample shape), got {input_shape}")
        input_shape = input_shape[1:]
    if mode not in ("eval", "train"):
        raise ValueError(f"summary: mode must be 'eval' or 'train', got {mode!r}")

    names = {id(m): name for name, m in model.named_modules()}
    training = {id(m): m.training for m in model.modules()}
    spatial = len(input_shape) - 1
    image = input_shape[1:]
    x = Tensor(np.zeros((1,) + input_shape, dtype=dtype), requires_grad=True)
    fields = _FieldTracker(x, spatial, image)
    rows, stack, handles = [], [], []

    def before(module, inputs):
        row = LayerRow(names.get(id(module), "?") or type(module).__name__, type(module).__name__,
                       len(stack) + 1, is_leaf=not any(True for _ in module.children()))
        if stack:
            stack[-1].children.append(row)
        rows.append(row)
        stack.append(row)

    def after(module, inputs, output):
        row = stack.pop()
        row.type = type(module).__name__  # a lazy layer has become its eager class by now
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        tensors = [t for t in outputs if isinstance(t, Tensor)]
        row.output_shape = tuple(t.shape[1:] for t in tensors) if len(tensors) > 1 else \
            (tensors[0].shape[1:] if tensors else ())
        row.memory = sum(t.array.nbytes for t in tensors)
        row.params = sum(p.numel() for p in module.parameters())
        if row.is_leaf:
            row.macs = _macs(module, inputs, tensors)
            fields.leaf(module, inputs, tensors)
        else:
            row.macs = sum(child.macs for child in row.children)
        if tensors and spatial:
            row.receptive_field, row.jump, row.start = fields.of(tensors[0])

    for module in model.modules():
        if module is not model:
            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after))
    try:
        model.train(mode == "train")
        model(x)
    finally:
        for handle in handles:
            handle.remove()
        for m in model.modules():
            object.__setattr__(m, "training", training[id(m)])

    params = list(model.parameters())
    leaves = [row for row in rows if row.is_leaf]
    result = Summary(
        rows=rows,
        input_shape=input_shape,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_macs=sum(row.macs for row in leaves),
        param_memory=sum(p.array.nbytes for p in params),
        activation_memory=sum(row.memory for row in leaves),
        input_memory=x.array.nbytes,
    )
    if verbose:
        print(result.table(max_depth))
    return result


def _sample_rank(module) -> int | None:
    """The number of axes of one sample `module` takes, read from the 1d/2d/3d ending its class
    name (Conv2d, MaxPool2d, Dropout2d, LazyConv2d: 3, i.e. (C, H, W)), or None if it takes any
    number (Linear, activations; BatchNorm1d takes (C) or (C, L))."""
    name = type(module).__name__
    if name.endswith(("1d", "2d", "3d")) and not name.endswith("BatchNorm1d"):
        return int(name[-2]) + 1
    return None


def _includes_batch(model, input_shape: tuple) -> bool:
    """Whether input_shape starts with a batch axis, judged by the first layer (in registration
    order) that either fixes the number of input axes or has weights."""
    first = "no layer fixes the number of input axes"
    for name, module in model.named_modules():
        if any(True for _ in module.children()):
            continue
        rank = _sample_rank(module)
        layer = f"{name or 'the model'} ({type(module).__name__})"
        if rank is not None:
            if len(input_shape) not in (rank, rank + 1):
                raise ValueError(f"summary: the first layer, {layer}, takes samples of {rank} axes ({rank + 1} "
                                 f"with the batch axis); input_shape {input_shape} has {len(input_shape)}")
            return len(input_shape) == rank + 1
        if module._parameters or isinstance(module, nn.LazyModule):
            first = f"the first layer, {layer}, takes any number of axes"
            break
    if len(input_shape) == 1:
        return False
    raise ValueError(f"summary: cannot tell whether input_shape {input_shape} starts with the batch axis "
                     f"({first}); pass batched=True if it is (batch, *sample shape), batched=False if it "
                     "is one sample's shape")


def _macs(module, inputs, outputs) -> int:
    """Multiply-accumulates of one call at batch 1 (conv and fully connected layers only)."""
    if not outputs:
        return 0
    kind = type(module).__name__
    out = outputs[0]
    if isinstance(module, nn.Linear):
        return (out.numel() // out.shape[0]) * module.in_features
    weight = getattr(module, "weight", None)
    if weight is None or not kind.startswith(("Conv", "LocallyConnected", "TiledConv")):
        return 0
    if kind.startswith("ConvTranspose"):
        x = inputs[0]
        per_input = weight.shape[1] * int(np.prod(weight.shape[2:]))  # Cout/groups * kernel area
        return (x.numel() // x.shape[0]) * per_input
    in_channels = module.in_channels // getattr(module, "groups", 1)
    kernel = int(np.prod(_tuple(module.kernel_size, out.ndim - 2)))
    return (out.numel() // out.shape[0]) * in_channels * kernel


def _tuple(value, n: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


class _FieldTracker:
    """Receptive field, jump and start of every tensor the forward pass produces, per spatial axis."""

    def __init__(self, x: Tensor, spatial: int, image: tuple):
        self.spatial, self.image = spatial, image
        # keyed by graph position (_position), holding the tensor so that the key stays unique
        self.known = {_position(x): (x, ((1,) * spatial, (1,) * spatial, (0,) * spatial))}

    def of(self, t: Tensor):
        """(field, jump, start) of t, each a tuple over the spatial axes."""
        return self._state(t)

    def _state(self, t: Tensor):
        """A tensor made by functional ops takes, per axis, the state of its source with the largest
        field. The sources are found along the backward graph's edges: the graph does not keep
        intermediate tensors alive, only the nodes that made them."""
        key = _position(t)
        if key in self.known:
            return self.known[key][1]
        sources, seen, stack = [], set(), [(key, t._ctx)]
        while stack:
            position, node = stack.pop()
            if position in self.known:
                sources.append(self.known[position][1])
                continue
            if node is None or position in seen:
                continue
            seen.add(position)
            stack.extend((_edge_position(e), e.node) for e in node.edges if e is not None)
        if not sources:
            state = ((1,) * self.spatial, (1,) * self.spatial, (0,) * self.spatial)
        else:
            widest = [max(sources, key=lambda s: s[0][a]) for a in range(self.spatial)]
            state = tuple(tuple(widest[a][part][a] for a in range(self.spatial)) for part in range(3))
        self.known[key] = (t, state)
        return state

    def leaf(self, module, inputs, outputs) -> None:
        if not self.spatial or not inputs or not isinstance(inputs[0], Tensor):
            return
        field_in, jump_in, start_in = self._state(inputs[0])
        kind = type(module).__name__
        if kind in _GLOBAL:
            state = (self.image, jump_in, tuple(_number((n - 1) / 2) for n in self.image))
        elif hasattr(module, "kernel_size") and not kind.startswith("ConvTranspose"):
            k = _tuple(module.kernel_size, self.spatial)
            stride = getattr(module, "stride", None)
            s = k if stride is None else _tuple(stride, self.spatial)
            d = _tuple(getattr(module, "dilation", 1), self.spatial)
            p = _padding_before(module, k, s, d, self.spatial)
            state = (tuple(f + (k[a] - 1) * d[a] * jump_in[a] for a, f in enumerate(field_in)),
                     tuple(j * s[a] for a, j in enumerate(jump_in)),
                     tuple(_number(b + ((k[a] - 1) * d[a] / 2 - p[a]) * jump_in[a]) for a, b in enumerate(start_in)))
        else:
            state = (field_in, jump_in, start_in)
        for t in outputs:
            self.known[_position(t)] = (t, state)


def _position(t: Tensor) -> tuple:
    """Where t sits in the backward graph: ("node", id of the node that made it, output index),
    or ("tensor", id(t)) for a tensor no recorded op made. The tracker holds every tensor it
    keys, and a tensor holds its node, so no id is reused while the summary runs."""
    return ("node", id(t._ctx), t._output_index) if t._ctx is not None else ("tensor", id(t))


def _edge_position(edge) -> tuple:
    """The _position of the tensor a backward edge leads to."""
    return ("node", id(edge.node), edge.index) if edge.node is not None else ("tensor", id(edge.leaf))


def _padding_before(module, kernel, stride, dilation, spatial) -> tuple:
    """The padding before each spatial axis of a convolution or pooling layer."""
    padding = getattr(module, "padding", 0)
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * spatial
        span = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple(e if padding == "full" else e // 2 for e in span)  # "same": the odd one goes after
    return tuple(p[0] if isinstance(p, (tuple, list)) else p for p in _tuple(padding, spatial))


def _number(x):
    """x as an int when it is whole (starts are half-integers after even kernels)."""
    return int(x) if float(x).is_integer() else float(x)


def _shape_text(shape) -> str:
    if shape and isinstance(shape[0], tuple):
        return ", ".join(_shape_text(s) for s in shape)
    return "x".join(str(n) for n in shape) if shape else "-"


def _bytes_text(n: int) -> str:
    return f"{n / 2 ** 20:.2f} MiB"


def _rf_text(field) -> str:
    """One number if every axis agrees, else one per axis joined by x; "-" for none."""
    if field is None:
        return "-"
    return str(field[0]) if len(set(field)) == 1 else "x".join(str(f) for f in field)

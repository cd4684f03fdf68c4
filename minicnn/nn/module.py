"""nn.Module, nn.Parameter and the containers Sequential, ModuleList, ModuleDict, ParameterList and
ParameterDict (PyTorch's semantics)."""
from __future__ import annotations

import os
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from ..tensor import Function, Tensor, as_array, is_grad_enabled, to_arguments


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (requires_grad=True by default)."""

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data.array if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
IncompatibleKeys.__doc__ = "What load_state_dict returns: the keys it did not find and those it did not use."


class Module:
    """Base class of every layer and model.

    Assigning a Parameter or a Module to an attribute registers it; `register_buffer` registers
    non-trainable state (BatchNorm's running statistics) that `state_dict` saves and `to` casts.
    Subclasses define `forward`; calling the module calls it, with the hooks around it.
    """

    # What a module keeps of itself when a lazy layer turns into its eager class (see nn.lazy).
    _HOOK_TABLES = ("_forward_pre_hooks", "_forward_hooks", "_backward_hooks")

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        for table in self._HOOK_TABLES:
            object.__setattr__(self, table, OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration -----------------------------------------------------------------------
    def __setattr__(self, name, value):
        """PyTorch's rules: a Parameter or a Module registers itself; a name that holds one
        accepts only another (or None); a buffer's name stays a buffer; anything else is a plain
        attribute."""
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() is called "
                f"(call super().__init__() first in {type(self).__name__}.__init__)"
            )
        if isinstance(value, Parameter):
            self._forget(name, keep="_parameters")
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name, keep="_modules")
            self._modules[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as parameter "
                                f"{name!r} (nn.Parameter or None expected)")
            self._parameters[name] = None
        elif name in self._modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as child module "
                                f"{name!r} (nn.Module or None expected)")
            self._modules[name] = None
        elif name in self._buffers:  # assigning to a buffer keeps it a buffer (BatchNorm's running stats)
            self._buffers[name] = None if value is None else Tensor(as_array(value))
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str) -> None:
        """Remove `name` from every table but `keep` (where it keeps its place when replaced)."""
        for table in ("_parameters", "_buffers", "_modules"):
            if table != keep:
                self.__dict__[table].pop(name, None)
        self._non_persistent.discard(name)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table, {})
            if name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for table in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[table]:
                del self.__dict__[table][name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def _check_name(self, kind: str, name) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot register a {kind} before Module.__init__() is called")
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"{type(self).__name__}: a {kind} name must be a non-empty string without '.', "
                             f"got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register `param` (or None, for an absent optional parameter such as a bias)."""
        self._check_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, "
                            f"got {type(param).__name__}")
        self._forget(name, keep="_parameters")
        self._parameters[name] = param

    def register_buffer(self, name: str, value, persistent: bool = True) -> None:
        """Register non-trainable state (a Tensor, an array or None). state_dict saves it unless
        persistent=False; `to` casts it either way."""
        self._check_name("buffer", name)
        self._forget(name, keep="_buffers")
        self._buffers[name] = None if value is None else Tensor(as_array(value))
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register `module` (or None) as the child called `name`."""
        self._check_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self._forget(name, keep="_modules")
        self._modules[name] = module

    register_module = add_module

    # ---- calling ----------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        call = None
        if self._backward_hooks and is_grad_enabled():
            call = _BackwardHookCall(self, list(self._backward_hooks.values()))
            args = call.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        if call is not None:
            output = call.wrap_outputs(output)
        return output

    def register_forward_pre_hook(self, hook) -> "HookHandle":
        """Call hook(module, inputs) before every forward (a non-None result replaces the
        positional inputs; a single value is taken as a 1-tuple); returns a handle with .remove()."""
        return HookHandle(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook) -> "HookHandle":
        """Call hook(module, inputs, output) after every forward (a non-None result replaces the
        output); returns a handle with .remove(). minicnn.summary is built on this."""
        return HookHandle(self._forward_hooks, hook)

    def register_full_backward_hook(self, hook) -> "HookHandle":
        """Call hook(module, grad_input, grad_output) once the gradients with respect to this
        module's inputs of one call are computed; returns a handle with .remove().

        grad_input has one entry per positional argument of the call, grad_output one per output:
        Tensors, or None where there is no gradient (an input that does not require grad, a
        non-Tensor argument). A returned tuple replaces grad_input in the rest of the backward.
        Only calls made after registration, with gradients enabled, are seen.
        """
        return HookHandle(self._backward_hooks, hook)

    # ---- traversal --------------------------------------------------------------------------
    def named_modules(self, prefix: str = ""):
        """(name, module) for this module and every descendant, depth first."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def apply(self, fn) -> Module:
        """Call fn(module) on every child (recursively, children first) and then on self, as
        PyTorch does; `net.apply(init_weights)` is the usual way to initialise a model."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def _check_materialized(self, name: str) -> None:
        """Raise if this module's parameters do not exist yet (lazy layers override it)."""

    def _materialize_from_state(self, state_dict, prefix: str) -> None:
        """Create the parameters from the shapes in a state dict (lazy layers override it)."""

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) pairs; a parameter shared by two modules is listed once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            module._check_materialized(module_name)
            for name, param in module._parameters.items():
                if param is None or id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self, recurse: bool = True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = ""):
        for module_name, module in self.named_modules(prefix):
            module._check_materialized(module_name)
            for name, buf in module._buffers.items():
                if buf is not None:
                    yield (f"{module_name}.{name}" if module_name else name), buf

    def buffers(self):
        for _, buf in self.named_buffers():
            yield buf

    # ---- modes and gradients ----------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch statistics) on this module and all below."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be True or False, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (dropout off, running statistics)."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients: to None (the default, as PyTorch 2), or to zeros."""
        # Module by module, so that a lazy layer not yet run (no parameters) is simply skipped.
        for module in self.modules():
            for param in module._parameters.values():
                if param is None:
                    continue
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad.array = np.zeros_like(param.grad.array)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set requires_grad on every parameter (False: the optimiser's step leaves them alone)."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def freeze(self) -> Module:
        """Stop training this module's parameters (requires_grad=False): transfer learning's
        `model.features.freeze()`. Same as `requires_grad_(False)`, or `p.requires_grad_(False)`
        for each parameter in PyTorch. BatchNorm layers still update their running statistics in
        train mode; call `.eval()` on the frozen part to keep those fixed too."""
        return self.requires_grad_(False)

    def unfreeze(self) -> Module:
        """Train this module's parameters again (requires_grad=True)."""
        return self.requires_grad_(True)

    # ---- state ------------------------------------------------------------------------------
    def _named_state(self):
        """(dotted name, Tensor) of every parameter and persistent buffer: what state_dict holds."""
        for module_name, module in self.named_modules():
            module._check_materialized(module_name)
            dot = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                if param is not None:
                    yield dot + name, param
            for name, buf in module._buffers.items():
                if buf is not None and name not in module._non_persistent:
                    yield dot + name, buf

    def state_dict(self) -> OrderedDict:
        """Parameters and persistent buffers by dotted name, as NumPy arrays (copies)."""
        return OrderedDict((key, tensor.array.copy()) for key, tensor in self._named_state())

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values from `state_dict` (a mapping of dotted names to arrays) into this module.

        Nothing is changed unless every present key fits: a shape mismatch raises ValueError naming
        the key and both shapes. strict=True: missing or unexpected keys raise RuntimeError listing
        them grouped by module. Returns IncompatibleKeys(missing_keys, unexpected_keys). A lazy
        layer not yet run takes its sizes from the shapes in `state_dict`, as in PyTorch.
        """
        name = f"load_state_dict for {type(self).__name__}"
        if isinstance(state_dict, (str, bytes, os.PathLike)):
            raise TypeError(f"{name}: expected a state dict (names to arrays), got the path {state_dict!r}; "
                            f"read the file first: model.load_state_dict(minicnn.load({str(state_dict)!r}))")
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{name}: expected a state dict (names to arrays), got {type(state_dict).__name__}")
        for module_name, module in self.named_modules():
            module._materialize_from_state(state_dict, f"{module_name}." if module_name else "")
        own = OrderedDict(self._named_state())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise RuntimeError(f"{name}: the keys do not match; " + _key_mismatch_text(missing, unexpected, state_dict))
        values = {key: as_array(state_dict[key]) for key in own if key in state_dict}
        wrong = [f"{key!r} has shape {values[key].shape} in the state dict but {own[key].shape} in the model"
                 for key in values if values[key].shape != own[key].shape]
        if wrong:
            raise ValueError(f"{name}: " + "; ".join(wrong[:5])
                             + (f"; and {len(wrong) - 5} more" if len(wrong) > 5 else ""))
        for key, value in values.items():
            own[key].array = value.astype(own[key].dtype, copy=True)
        return IncompatibleKeys(missing, unexpected)

    def to(self, *args, **kwargs) -> Module:
        """Cast floating-point parameters and buffers in place: to(dtype), and as Tensor.to,
        to("cpu"), to(device), to("cpu", dtype), to(tensor). minicnn runs on the CPU only."""
        dtype, _ = to_arguments(args, kwargs)
        if dtype is None:
            return self
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"to: expected a floating-point dtype, got {dtype}")
        for t in list(self.parameters()) + list(self.buffers()):
            if np.issubdtype(t.dtype, np.floating):
                t.array = t.array.astype(dtype)
                if t.grad is not None:
                    t.grad.array = t.grad.array.astype(dtype)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # ---- printing ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's settings, shown inside its parentheses by repr."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, module in self.named_children():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


def _key_mismatch_text(missing: list, unexpected: list, state_dict, shown: int = 6) -> str:
    """'missing: layer1.0.conv1.{weight}, fc.{weight,bias}; unexpected: ...', at most `shown`
    modules per list, so that a wrong architecture does not print hundreds of keys."""

    def grouped(keys):
        groups = OrderedDict()
        for key in keys:
            module, _, name = str(key).rpartition(".")
            groups.setdefault(module, []).append(name)
        parts = [(f"{module}.{{{','.join(names)}}}" if module else ",".join(names))
                 for module, names in groups.items()]
        more = f", ... ({len(keys)} keys in {len(parts)} modules)" if len(parts) > shown else ""
        return ", ".join(parts[:shown]) + more

    text = "; ".join(f"{label}: {grouped(keys)}" for label, keys in (("missing", missing), ("unexpected", unexpected))
                     if keys)
    nested = [k for k in unexpected if isinstance(state_dict[k], Mapping)]
    if nested:
        text += f" ({nested[0]!r} holds a dict: is this a checkpoint? pass checkpoint[{nested[0]!r}])"
    return text


class HookHandle:
    """Returned by the register_*_hook methods; `remove()` unregisters the hook."""

    _next_id = 0

    def __init__(self, table: OrderedDict, hook):
        self.table, self.id = table, HookHandle._next_id
        HookHandle._next_id += 1
        table[self.id] = hook

    def remove(self) -> None:
        self.table.pop(self.id, None)


class _BackwardHookCall:
    """One call of a module with full backward hooks.

    The call's inputs and outputs pass through identity nodes of the graph: the outputs' node
    sees dL/d(outputs) first; the inputs' node, reached once the module's own backward is done,
    sees dL/d(inputs) and runs the hooks, whose result it passes on down the graph.
    """

    def __init__(self, module: Module, hooks: list):
        self.module, self.hooks = module, hooks
        self.n_inputs, self.wrapped_positions = 0, ()
        self.grad_output = ()

    def wrap_inputs(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        self.wrapped_positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad)
        if not self.wrapped_positions:
            return args
        passed = _ModuleInputsGrad.apply(*(args[i] for i in self.wrapped_positions), call=self)
        args = list(args)
        for i, tensor in zip(self.wrapped_positions, passed):
            args[i] = tensor
        return tuple(args)

    def wrap_outputs(self, output):
        outputs = output if isinstance(output, tuple) else (output,)
        positions = [i for i, o in enumerate(outputs) if isinstance(o, Tensor) and o.requires_grad]
        if not positions:
            return output
        self.n_outputs, self.output_positions = len(outputs), positions
        passed = _ModuleOutputsGrad.apply(*(outputs[i] for i in positions), call=self)
        outputs = list(outputs)
        for i, tensor in zip(positions, passed):
            outputs[i] = tensor
        return tuple(outputs) if isinstance(output, tuple) else outputs[0]

    def outputs_backward(self, grads: tuple) -> None:
        grad_output = [None] * self.n_outputs
        for i, g in zip(self.output_positions, grads):
            grad_output[i] = Tensor(g)
        self.grad_output = tuple(grad_output)
        if not self.wrapped_positions:  # no input wants a gradient: this is the last chance
            self.run_hooks(())

    def run_hooks(self, grads: tuple) -> tuple:
        """The hooks on grad_input (one entry per positional input); returns the wrapped inputs' grads."""
        grad_input = [None] * self.n_inputs
        for i, g in zip(self.wrapped_positions, grads):
            grad_input[i] = Tensor(g)
        grad_input = tuple(grad_input)
        name = type(self.module).__name__
        for hook in self.hooks:
            result = hook(self.module, grad_input, self.grad_output)
            if result is None:
                continue
            result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
            if len(result) != len(grad_input):
                raise ValueError(f"{name} backward hook returned {len(result)} gradients, expected "
                                 f"{len(grad_input)} (one per positional input of the call)")
            for i, (new, old) in enumerate(zip(result, grad_input)):
                if new is not None and (old is None or np.shape(as_array(new)) != old.shape):
                    expected = "None (that input has no gradient)" if old is None else f"shape {old.shape}"
                    raise ValueError(f"{name} backward hook: grad_input[{i}] should be {expected}, "
                                     f"got shape {np.shape(as_array(new))}")
            grad_input = tuple(None if g is None else Tensor(as_array(g)) for g in result)
        return tuple(None if grad_input[i] is None else grad_input[i].array for i in self.wrapped_positions)


class _ModuleInputsGrad(Function):
    """Identity on the inputs of a module call that has full backward hooks; its backward runs them."""

    @staticmethod
    def forward(ctx, *inputs, call):
        ctx.call = call
        return inputs

    @staticmethod
    def backward(ctx, *grads):
        return ctx.call.run_hooks(grads)


class _ModuleOutputsGrad(Function):
    """Identity on the outputs of a module call that has full backward hooks; records grad_output."""

    @staticmethod
    def forward(ctx, *outputs, call):
        ctx.call = call
        return outputs

    @staticmethod
    def backward(ctx, *grads):
        ctx.call.outputs_backward(grads)
        return grads


class Sequential(Module):
    """Modules applied one after another: Sequential(a, b, c)(x) == c(b(a(x))).

    Also accepts an OrderedDict of name -> module.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*items[index])
        return items[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self


class _ListOf(Module):
    """What ModuleList and ParameterList share: a list view of one of the module's tables, whose
    entries are registered under the names "0", "1", ...  (no forward of its own)."""

    _table = ""

    def __init__(self, values=None):
        super().__init__()
        self.extend(values or ())

    def _register(self, name: str, value) -> None:
        raise NotImplementedError

    def _values(self) -> list:
        return list(self.__dict__[self._table].values())

    def append(self, value):
        self._register(str(len(self)), value)
        return self

    def extend(self, values):
        for value in values:
            self.append(value)
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(self._values()[index])
        return self._values()[index]

    def __setitem__(self, index: int, value) -> None:
        index = range(len(self))[index]  # IndexError past the end, as a list
        self._register(str(index), value)

    def __len__(self) -> int:
        return len(self.__dict__[self._table])

    def __iter__(self):
        return iter(self._values())


class ModuleList(_ListOf):
    """A list of modules, registered so their parameters are found (no forward of its own)."""

    _table = "_modules"

    def __init__(self, modules=None):
        super().__init__(modules)

    def _register(self, name: str, module) -> None:
        self.add_module(name, module)


class ParameterList(_ListOf):
    """A list of Parameters, registered as "0", "1", ...; Tensors and arrays become Parameters."""

    _table = "_parameters"

    def _register(self, name: str, value) -> None:
        self.register_parameter(name, value if isinstance(value, Parameter) else Parameter(value))


class _DictOf(Module):
    """What ModuleDict and ParameterDict share: a dict view of one of the module's tables,
    in insertion order, with the key as each entry's name."""

    _table = ""

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.update(values)

    def _register(self, name: str, value) -> None:
        raise NotImplementedError

    def _entries(self) -> OrderedDict:
        return self.__dict__[self._table]

    def __getitem__(self, key: str):
        return self._entries()[key]

    def __setitem__(self, key: str, value) -> None:
        self._register(key, value)

    def __delitem__(self, key: str) -> None:
        del self._entries()[key]

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self):
        return iter(list(self._entries()))

    def __contains__(self, key) -> bool:
        return key in self._entries()

    def keys(self):
        return list(self._entries().keys())

    def values(self):
        return list(self._entries().values())

    def items(self):
        return list(self._entries().items())

    def update(self, values) -> None:
        """Add (name, value) pairs from a mapping or an iterable of pairs."""
        pairs = values.items() if isinstance(values, (Mapping, _DictOf)) else values
        for key, value in pairs:
            self._register(key, value)

    def pop(self, key: str):
        return self._entries().pop(key)

    def clear(self) -> None:
        self._entries().clear()


class ModuleDict(_DictOf):
    """Modules by name, registered so their parameters are found (no forward of its own)."""

    _table = "_modules"

    def __init__(self, modules=None):
        super().__init__(modules)

    def _register(self, name: str, module) -> None:
        self.add_module(name, module)


class ParameterDict(_DictOf):
    """Parameters by name; Tensors and arrays become Parameters."""

    _table = "_parameters"

    def __init__(self, parameters=None):
        super().__init__(parameters)

    def _register(self, name: str, value) -> None:
        self.register_parameter(name, value if isinstance(value, Parameter) else Parameter(value))

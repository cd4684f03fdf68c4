"""The Optimizer base class: parameter groups, per-parameter state, zero_grad, state_dict."""
from __future__ import annotations

import copy

import numpy as np

from ..tensor import Tensor


class Optimizer:
    """Holds `param_groups` (lists of parameters with their hyper-parameters) and `state`.

    params: an iterable of Parameters, or of dicts {"params": [...], "lr": ...} to give groups
    their own hyper-parameters (PyTorch's convention). Subclasses implement `step`.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        seen = set()
        for group in groups:
            group = dict(group)
            group["params"] = list(group["params"])
            for p in group["params"]:
                if not isinstance(p, Tensor):
                    raise TypeError(f"{type(self).__name__}: parameters must be Tensors, got {type(p).__name__}")
                if id(p) in seen:
                    raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
                seen.add(id(p))
            for key, value in defaults.items():
                group.setdefault(key, value)
            self._validate(group)
            self.param_groups.append(group)
        self.state = {}  # id(param) -> dict of arrays

    def _validate(self, group: dict) -> None:
        name = type(self).__name__
        if group["lr"] < 0:
            raise ValueError(f"{name}: learning rate must be >= 0, got {group['lr']}")
        if group.get("weight_decay", 0) < 0:
            raise ValueError(f"{name}: weight_decay must be >= 0, got {group['weight_decay']}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (to None, or to zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.array = np.zeros_like(p.grad.array)

    def _params_with_grad(self, group):
        for p in group["params"]:
            if p.grad is not None:
                yield p, p.grad.array, self.state.setdefault(id(p), {})

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}, as PyTorch."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index[id(p)] = len(index)
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {index[k]: copy.deepcopy(v) for k, v in self.state.items() if k in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and per-parameter state saved by `state_dict`."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{type(self).__name__}.load_state_dict: {len(groups)} parameter groups "
                             f"saved, the optimizer has {len(self.param_groups)}")
        params = []
        for saved, group in zip(groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{type(self).__name__}.load_state_dict: a group saved with "
                                 f"{len(saved['params'])} parameters, the optimizer's has {len(group['params'])}")
            group.update({k: v for k, v in saved.items() if k != "params"})
            params.extend(zip(saved["params"], group["params"]))
        self.state = {}
        for saved_index, p in params:
            entry = state_dict["state"].get(saved_index, state_dict["state"].get(str(saved_index)))
            if entry is not None:
                restored = {}
                for key, value in entry.items():
                    value = np.array(value) if isinstance(value, np.ndarray) else value
                    if isinstance(value, np.ndarray) and value.shape not in ((), p.shape):
                        raise ValueError(f"{type(self).__name__}.load_state_dict: state {key!r} has shape "
                                         f"{value.shape}, its parameter {p.shape}")
                    restored[key] = value
                self.state[id(p)] = restored


def update_in_place(p: Tensor, kernel, grad: np.ndarray, state_arrays: tuple, *hyper_parameters) -> None:
    """Run kernel(p, g, *state_arrays, *hyper_parameters) (a minicnn.kernels.optim Rule) on flat
    views, so that p's memory is updated in place: views of it (p.data, anything aliasing the
    parameter) see the new values, as in PyTorch. Numbers among the hyper-parameters are cast to
    p's dtype. p's version is bumped, so a graph that saved p and runs backward after the step
    fails loudly instead of using the new values. state_arrays must be C-contiguous (the
    optimisers create them so): their flat views are what the kernel updates.
    """
    array = p.array
    p._check_writeable(f"{kernel.__name__}")
    work = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    if not all(s.flags.c_contiguous for s in state_arrays):
        raise RuntimeError(f"{kernel.__name__}: optimiser state arrays must be C-contiguous")
    cast = array.dtype.type
    kernel(work.reshape(-1), np.ascontiguousarray(grad, array.dtype).reshape(-1),
           *(s.reshape(-1) for s in state_arrays),
           *(value if isinstance(value, (bool, np.bool_)) else cast(value) for value in hyper_parameters))
    if work is not array:
        array[...] = work
    p._version_counter.value += 1

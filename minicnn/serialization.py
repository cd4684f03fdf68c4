"""Saving and loading checkpoints: nested dicts of arrays, written atomically.

A checkpoint is a NumPy .npz archive (no pickle, so loading one cannot run code). Nested dicts,
lists and scalars, such as an optimizer's state_dict, are flattened to '/'-separated keys.
The file is written to a temporary name in the same folder, flushed to disk, then renamed over
the target: an interrupted save leaves the previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from .tensor import Tensor

_LAYOUT = "__minicnn_layout__"


def save(obj, path) -> None:
    """Write `obj` (a dict, possibly nested, of arrays, Tensors, numbers, strings, lists) to `path`."""
    arrays = {}
    layout = _flatten(obj, "", arrays)
    arrays[_LAYOUT] = np.frombuffer(json.dumps(layout).encode(), dtype=np.uint8)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def load(path):
    """Read back what `save` wrote."""
    with np.load(os.fspath(path), allow_pickle=False) as archive:
        if _LAYOUT not in archive:
            raise ValueError(f"load: {path} is not a minicnn checkpoint (no layout record)")
        layout = json.loads(archive[_LAYOUT].tobytes().decode())
        return _unflatten(layout, archive)


def _flatten(obj, prefix, arrays):
    """Return a JSON layout describing obj; arrays go into `arrays` under their key."""
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, got {type(key).__name__}")
        return {"dict": [[k, isinstance(k, int), _flatten(v, f"{prefix}{k}/", arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"list" if isinstance(obj, list) else "tuple":
                [_flatten(v, f"{prefix}{i}/", arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, Tensor):
        obj = obj.array
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError(f"save: object arrays cannot be saved (at {prefix.rstrip('/')!r})")
        key = prefix.rstrip("/") or "value"
        arrays[key] = obj
        return {"array": key}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, np.generic):
        return {"value": obj.item()}
    raise TypeError(f"save: cannot save a {type(obj).__name__} (at {prefix.rstrip('/')!r})")


def _unflatten(layout, archive):
    if "dict" in layout:
        return {(int(k) if is_int else k): _unflatten(v, archive) for k, is_int, v in layout["dict"]}
    if "list" in layout:
        return [_unflatten(v, archive) for v in layout["list"]]
    if "tuple" in layout:
        return tuple(_unflatten(v, archive) for v in layout["tuple"])
    if "array" in layout:
        return archive[layout["array"]]
    return layout["value"]

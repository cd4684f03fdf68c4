"""A run's checkpoint: everything needed to continue a run exactly, in one .npz (minicnn.save).

It holds the model's and the optimiser's state_dicts, the scheduler's, the epoch and the step
within it, the history of per-epoch metrics, the run's configuration (what to rebuild the model
from) and the state of every random generator the run draws from:
- minicnn's default generator,
- the loader's shuffling generator (its state at the start of the epoch too, so that a run
  interrupted mid-epoch replays the same order),
- every numpy Generator found in the dataset's attributes (random transforms keep theirs in
  `.generator`),
- the `generator` attribute of each module of the model (dropout, drop-path).
A numpy Generator's state is `bit_generator.state`, a dict of str and int (ints beyond 64 bits
included: the layout record is JSON, which keeps them exact).
"""
from __future__ import annotations

import numpy as np

from .. import random as mc_random
from ..serialization import load, save

FORMAT = "minicnn-run-1"


def _generators_in(obj, path: str, found: dict, seen: set, depth: int = 0) -> None:
    """Add every numpy Generator reachable from obj's attributes, lists and dicts to `found` as
    path -> generator, each generator once (under the first path that reaches it)."""
    if isinstance(obj, np.random.Generator):
        if id(obj) not in seen:
            seen.add(id(obj))
            found[path] = obj
        return
    if depth > 6 or id(obj) in seen or isinstance(obj, (np.ndarray, str, bytes, int, float, type(None))):
        return
    seen.add(id(obj))
    if isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    elif isinstance(obj, dict):
        items = obj.items()
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        items = vars(obj).items()
    else:
        return
    for key, value in items:
        _generators_in(value, f"{path}.{key}", found, seen, depth + 1)


def run_generators(model, loader) -> dict:
    """name -> Generator for every generator the run draws from (see the module docstring)."""
    found, seen = {"default": mc_random.default_generator()}, set()
    seen.add(id(found["default"]))
    loader_generator = getattr(loader, "generator", None)
    if isinstance(loader_generator, np.random.Generator):
        if id(loader_generator) not in seen:
            found["loader"] = loader_generator
            seen.add(id(loader_generator))
    if getattr(loader, "dataset", None) is not None:
        _generators_in(loader.dataset, "dataset", found, seen)
    for name, module in model.named_modules():
        generator = module.__dict__.get("generator")
        if isinstance(generator, np.random.Generator) and id(generator) not in seen:
            seen.add(id(generator))
            found[f"model.{name}" if name else "model"] = generator
    return found


def generator_states(generators: dict) -> dict:
    return {name: g.bit_generator.state for name, g in generators.items()}


def restore_generators(generators: dict, states: dict) -> None:
    """Set each generator to its saved state; the two sets of names must agree."""
    if set(generators) != set(states):
        raise ValueError(f"resume: the run's random generators differ from the checkpoint's: "
                         f"only in the run {sorted(set(generators) - set(states))}, only in the "
                         f"checkpoint {sorted(set(states) - set(generators))} (was the model, dataset "
                         f"or loader built differently?)")
    for name, generator in generators.items():
        generator.bit_generator.state = states[name]


def write(path, state: dict) -> None:
    """Save atomically: a failed write (a full disk) leaves the previous file as it was."""
    try:
        save({"format": FORMAT, **state}, path)
    except OSError as error:
        raise OSError(error.errno, f"could not write the checkpoint {path}: {error.strerror or error}; "
                                   f"the previous checkpoint there is intact") from error


def read(path) -> dict:
    state = load(path)
    if state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a minicnn training checkpoint (format {state.get('format')!r})")
    return state


def load_model_state(model, state_dict, path) -> None:
    """model.load_state_dict, with an error that says which checkpoint did not fit."""
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, ValueError) as error:
        message = error.args[0] if error.args else str(error)
        raise ValueError(f"the checkpoint {path} does not fit this model ({type(model).__name__}): "
                         f"{message}") from error

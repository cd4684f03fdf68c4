"""Where randomness comes from: explicit numpy Generators, with one default for convenience.

Every random function in minicnn takes `generator=`; when it is omitted the default generator is
used, which `manual_seed` resets, so `manual_seed(0)` at the top of a script reproduces a run.
"""
from __future__ import annotations

import numpy as np

_default = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default generator to `seed` and return it."""
    global _default
    _default = np.random.default_rng(seed)
    return _default


def default_generator() -> np.random.Generator:
    """The generator used when a function is not given one."""
    return _default


def get_generator(generator) -> np.random.Generator:
    """`generator` itself, the default one for None; anything else is a TypeError."""
    if generator is None:
        return _default
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"expected a numpy.random.Generator, got {type(generator).__name__}")
    return generator

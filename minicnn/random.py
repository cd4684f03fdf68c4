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


class Seeded:
    """Something that draws from a generator of its own, or from minicnn's default one.

    `generator` is the one given, or the default generator looked up at each use (so
    `manual_seed` reaches it); a trainer reads and sets it to checkpoint and resume a run.
    """

    def __init__(self, generator=None):
        self.generator = generator

    @property
    def generator(self) -> np.random.Generator:
        return get_generator(self._generator)

    @generator.setter
    def generator(self, generator) -> None:
        if generator is not None:
            get_generator(generator)  # a TypeError now, not at the first draw
        self._generator = generator

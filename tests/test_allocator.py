"""The allocator setting (kernels/allocator.py): freed array memory is reused without page faults,
and a malloc setting the user made in the environment is left alone.

Each case runs in a fresh interpreter: the setting is made at import, once per process."""
import os
import subprocess
import sys

import pytest

from minicnn.kernels import allocator

pytestmark = pytest.mark.skipif(not allocator._glibc(), reason="the setting is made on glibc only")

# A step's pattern: several arrays of a few MiB allocated, written and freed together, 12 MiB in
# all (more than glibc's default trim threshold reaches after freeing 3 MiB blocks). Prints the
# page faults per round after a warm-up round.
ROUNDS = """
import resource, numpy as np
import minicnn.kernels.allocator as allocator
def round_of_arrays():
    arrays = [np.ones(3 << 18, np.float32) for _ in range(4)]
    del arrays
round_of_arrays()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    round_of_arrays()
print(allocator.KEEPS_FREED_MEMORY, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def run_rounds(**environment) -> tuple:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    env.pop("GLIBC_TUNABLES", None)
    result = subprocess.run([sys.executable, "-c", ROUNDS], capture_output=True, text=True, timeout=120,
                            env={**env, **environment})
    assert result.returncode == 0, result.stderr
    keeps, faults = result.stdout.split()
    return keeps == "True", float(faults)


def test_freed_arrays_are_reused_without_page_faults():
    keeps, faults = run_rounds()
    assert keeps
    assert faults < 100  # 12 MiB of fresh pages would be 3,072 faults a round


def test_a_setting_in_the_environment_is_left_alone():
    # glibc's own default, stated explicitly: minicnn must not override it, and then the same
    # rounds fault on fresh pages every time (which is what the first test rules out)
    keeps, faults = run_rounds(MALLOC_TRIM_THRESHOLD_="131072")
    assert not keeps
    assert faults > 1000

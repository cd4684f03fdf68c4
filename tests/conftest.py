import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# No deadlines: the first call of a Numba kernel compiles it. Derandomised in CI so that a red run
# is reproducible from its log.
settings.register_profile("dev", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True,
                          print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

"""minicnn.profile(): every op's forward and backward is filed under its name, algorithm and pass."""
import numpy as np

import minicnn as mc
import minicnn.functional as F


def test_profile_counts_every_forward_and_backward_with_the_conv_algorithm():
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    with mc.profile() as prof:
        y = F.relu(F.conv2d(x, w, algorithm="im2col"))
        F.relu(y).sum().backward()
        with prof.section("step"):
            pass
    calls = {row[:3]: row[3] for row in prof.rows()}
    assert calls[("Conv", "im2col", "forward")] == 1 and calls[("Conv", "im2col", "backward")] == 1
    assert calls[("ReLU", "", "forward")] == 2 and calls[("ReLU", "", "backward")] == 2
    assert calls[("step", "", "section")] == 1
    assert all(row[4] >= 0 for row in prof.rows())
    table = prof.table()
    assert "Conv" in table and "im2col" in table and "ms/call" in table


def test_nothing_is_recorded_outside_the_block_and_blocks_do_not_leak_into_each_other():
    x = mc.tensor(np.ones(3), requires_grad=True)
    with mc.profile() as outer:
        with mc.profile() as inner:
            F.relu(x)
        F.relu(x)
    F.relu(x)
    assert [row[3] for row in inner.rows()] == [1] and [row[3] for row in outer.rows()] == [1]

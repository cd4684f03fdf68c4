"""check_function must pass right ops, and for wrong backwards name the input, show the worst
elements and recognise the pattern of the error; the pytest plugin must work in a user's project."""
import numpy as np
import pytest
from hypothesis import example, given, settings

from minicnn import Function, GradcheckError
from minicnn.testing import arrays, check_function, classify, plot_jacobian_error, shapes

from broken_functions import BiasAddFirstRowOnly, GatherOffByOne

pytest_plugins = ["pytester"]


def normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


class Square(Function):
    """a^2 with a backward scaled by `factor` (1 is right)."""

    factor = 1.0

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    @classmethod
    def backward(cls, ctx, grad):
        (a,) = ctx.saved_tensors
        return cls.factor * 2 * grad * a


class WrongSignSquare(Square):
    factor = -1.0


class HalfSquare(Square):
    factor = 0.5


class BiasAddUnreduced(Function):
    """x (N, C) + b (C,); the backward returns the (N, C) gradient for b as it is."""

    @staticmethod
    def forward(ctx, x, b):
        return x + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class ChannelScaleForgetsChannel2(Function):
    """x (N, C, H, W) * s (C,) per channel; the backward for x drops the scale of channel 2."""

    @staticmethod
    def forward(ctx, x, s):
        ctx.save_for_backward(x, s)
        return x * s[None, :, None, None]

    @staticmethod
    def backward(ctx, grad):
        x, s = ctx.saved_tensors
        scale = s.copy()
        scale[2] = 1.0
        return grad * scale[None, :, None, None], np.sum(grad * x, axis=(0, 2, 3))


def failure(report, check="gradient (elementwise)"):
    found = [f for f in report.failures if f.check == check]
    assert found, str(report)
    return found[0]


def test_a_right_op_passes_every_check():
    report = check_function(lambda a, b: (a @ b).tanh(), normal(3, 4), normal(4, 2, seed=1))
    assert report.ok, str(report)
    assert report.passed == ["gradient (elementwise)", "gradient (directional)", "non-contiguous inputs",
                             "zero-size inputs", "float32 forward"]
    assert report.assert_ok() is report
    assert "all 5 checks passed" in str(report)


def test_wrong_sign_is_located_and_named():
    report = check_function(WrongSignSquare, normal(2, 3))
    f = failure(report)
    assert f.where == "input 0 (shape (2, 3))"
    assert f.message.startswith("sign: analytic = -numerical")
    comparison = report.gradients[0]
    worst = np.unravel_index(np.argmax(np.abs(comparison.analytic - comparison.numeric)), (2, 3))
    table = f.message.split("\n")
    assert "6 of 6 elements wrong" in table[1] and "analytic" in table[2] and "numerical" in table[2]
    assert table[3].startswith(str(tuple(int(i) for i in worst)))  # the worst element first
    assert failure(report, "gradient (directional)")
    with pytest.raises(GradcheckError, match="sign"):
        report.assert_ok()


def test_wrong_constant_factor_is_measured():
    f = failure(check_function(HalfSquare, normal(3, 4)))
    assert f.where.startswith("input 0")
    assert "constant factor: analytic = 0.5 x numerical" in f.message and "1/2" in f.message


def test_missing_broadcast_reduction_names_the_axis():
    f = failure(check_function(BiasAddFirstRowOnly, normal(4, 3), normal(3, seed=1)))
    assert f.where == "input 1 (shape (3,))"
    assert f.message.startswith("missing broadcast reduction") and "output axis 0" in f.message
    assert "size 4" in f.message


def test_unreduced_broadcast_gradient_shape_is_explained():
    f = failure(check_function(BiasAddUnreduced, normal(4, 3), normal(3, seed=1)))
    assert "missing broadcast reduction" in f.message and "(4, 3) for input 1 of shape (3,)" in f.message
    assert "sum over the broadcast axes (0,)" in f.message


def test_off_by_one_index_is_recognised():
    report = check_function(GatherOffByOne, normal(6), np.array([0, 2, 2, 4]), batch_inputs=())
    f = failure(report)
    assert f.where == "input 0 (shape (6,))"
    assert f.message.startswith("off by one along axis 0: analytic[i] = numerical[i - 1]")
    assert any("zero-size" in s for s in report.skipped)


def test_one_wrong_channel_is_located():
    f = failure(check_function(ChannelScaleForgetsChannel2, normal(2, 4, 3, 3), normal(4, seed=1) + 3))
    assert f.where == "input 0 (shape (2, 4, 3, 3))"
    assert "one slice: every element with index 2 along axis 1 (a channel)" in f.message


@pytest.mark.parametrize("analytic_of, expected", [
    (lambda n: np.zeros_like(n), "zero gradient"),
    (lambda n: np.where(_border(n.shape), 0.0, n), "border"),
    (lambda n: n + np.isin(np.arange(n.size).reshape(n.shape), [2, 6, 13]), "scattered"),
])
def test_other_patterns(analytic_of, expected):
    numeric = normal(4, 5) + 3
    assert classify(analytic_of(numeric), numeric).startswith(expected)


def _border(shape):
    mask = np.ones(shape, bool)
    mask[1:-1, 1:-1] = False
    return mask


def test_non_contiguous_zero_size_and_float32_problems_are_reported():
    class AssumesContiguous(Function):
        """Reads its input's memory as if it were C-contiguous (as a raw-buffer trick would)."""

        @staticmethod
        def forward(ctx, a):
            strides = tuple(a.itemsize * int(np.prod(a.shape[i + 1:])) for i in range(a.ndim))
            return np.lib.stride_tricks.as_strided(a, a.shape, strides).copy()

        @staticmethod
        def backward(ctx, grad):
            return grad

    def float64_always(a):
        return a.double() * 2

    def fails_on_empty(a):
        return a / a.array.max()

    assert failure(check_function(AssumesContiguous, normal(3, 4)), "non-contiguous inputs")
    assert "float64 for float32 inputs" in failure(check_function(float64_always, normal(3)), "float32 forward").message
    assert "raised" in failure(check_function(fails_on_empty, normal(2, 3)), "zero-size inputs").message


@settings(max_examples=10, deadline=None)
@given(arrays(shapes(min_dims=1, max_dims=3, max_side=4)))
@example(np.full(1, 8.19e-142))  # 0 in float32: below float32's range, not a wrong op
def test_property_test_over_drawn_shapes(x):
    check_function(lambda a: (a * a).tanh(), x).assert_ok()  # the use documented in minicnn.testing


@settings(max_examples=5, deadline=None)
@given(arrays(shapes(min_dims=2, max_dims=2, min_side=2, max_side=4)))
def test_wrong_sign_is_found_whatever_the_shape(x):
    assert check_function(WrongSignSquare, x + 3).failures[0].message.startswith("sign")


def test_large_inputs_skip_only_the_elementwise_check():
    report = check_function(lambda a: a.exp(), normal(50, 50), max_elementwise=100)
    assert report.ok and "gradient (directional)" in report.passed
    assert any("max_elementwise" in s for s in report.skipped)


def test_plot_jacobian_error(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "jacobian.png"
    plot_jacobian_error(check_function(WrongSignSquare, normal(3, 4)), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pytest_plugin_fixture_and_option(pytester):
    pytester.makepyfile(test_user_op='''
        import numpy as np
        from minicnn import Function

        class Cube(Function):
            @staticmethod
            def forward(ctx, a):
                ctx.save_for_backward(a)
                return a ** 3

            @staticmethod
            def backward(ctx, grad):
                (a,) = ctx.saved_tensors
                return SCALE * grad * a ** 2

        SCALE = 3.0

        def test_right(minicnn_check):
            minicnn_check(lambda a: a.tanh(), np.linspace(-1, 1, 6).reshape(2, 3))

        def test_wrong(minicnn_check):
            global SCALE
            SCALE = 2.0
            minicnn_check(Cube, np.linspace(-1, 1, 6).reshape(2, 3), max_elementwise=2)
    ''')
    # without the option, inputs above max_elementwise are checked along random directions only
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*FAILED gradient (directional): along direction 0*"])
    result.stdout.no_fnmatch_line("*constant factor*")
    # --minicnn-gradcheck: every input elementwise too, which finds the pattern
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--minicnn-gradcheck")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*constant factor: analytic = 0.666667 x numerical*"])

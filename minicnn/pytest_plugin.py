"""minicnn's pytest plugin (registered through the `pytest11` entry point when minicnn is
installed): the `minicnn_check` fixture and the `--minicnn-gradcheck` option.

    def test_my_op(minicnn_check):
        minicnn_check(MyOp, x, weight)      # check_function(...).assert_ok()

By default inputs of more than 4096 elements in all are checked along random directions only;
`pytest --minicnn-gradcheck` checks every input element by element too (slower, thorough).
"""
import pytest


def pytest_addoption(parser):
    parser.getgroup("minicnn").addoption(
        "--minicnn-gradcheck", action="store_true",
        help="minicnn_check: compare every input's gradient element by element, whatever its size")


@pytest.fixture
def minicnn_check(request):
    """check(fn, *inputs, **options) -> CheckReport: minicnn.testing.check_function with the
    same arguments, failing the test with the whole report if any check fails."""
    from .opcheck import check_function  # imported when used: the plugin loads in every pytest run

    thorough = request.config.getoption("minicnn_gradcheck")

    def check(fn, *inputs, **options):
        if thorough:
            options["max_elementwise"] = None
        return check_function(fn, *inputs, **options).assert_ok()

    return check

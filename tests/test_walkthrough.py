"""docs/walkthrough.md is exactly what scripts/walkthrough.py computes from the code today, and
the numbers in it are checked against independent computations as it is written."""
import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def walkthrough():
    spec = importlib.util.spec_from_file_location("walkthrough", ROOT / "scripts" / "walkthrough.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def text(walkthrough):
    return walkthrough.render()


def test_the_walkthrough_is_up_to_date(text):
    doc = (ROOT / "docs" / "walkthrough.md").read_text()
    assert doc == text, "docs/walkthrough.md is stale: run python scripts/walkthrough.py"


def test_its_numbers_agree_with_their_independent_checks(text):
    lines = text.splitlines()
    closed = next(line for line in lines if line.startswith("- closed form p - onehot"))
    hooked = next(line for line in lines if line.startswith("- what reached the head"))
    assert closed.split("= ")[1] == hooked.split("= ")[1]
    analytic = float(next(line for line in lines if line.startswith("- backward pass: dL/dw")).split("= ")[1])
    numeric = float(next(line for line in lines if line.startswith("- central difference")).split(": ")[1])
    assert analytic == pytest.approx(numeric, rel=1e-6)
    assert "agrees with" in text and "to 1e-12 or better" in text
    assert "| `body.c1` | `Conv2d` | `minicnn/functional/conv.py` `Conv` |" in text

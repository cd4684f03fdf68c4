"""A plain (non-editable) install must carry kernels/ and architectures/ inside minicnn."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_non_editable_install_imports_subpackages(tmp_path):
    source = tmp_path / "src"
    for name in ("minicnn", "kernels", "architectures"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    assert not (target / "kernels").exists()  # no top-level `kernels` package
    code = ("import minicnn, minicnn.kernels, minicnn.architectures\n"
            "from minicnn.data import load_digits\n"
            "assert minicnn.__file__.startswith(%r)\n"
            "assert minicnn.kernels.__file__.startswith(%r)\n"
            "assert load_digits('test')[0].shape == (359, 1, 8, 8)\n" % (str(target), str(target)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr

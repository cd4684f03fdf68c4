"""Produce minicnn/data/digits.npz from the UCI optical digits as scikit-learn ships them.

The source file is scikit-learn's `sklearn/datasets/data/digits.csv.gz` (1,797 rows of 64 pixel
values 0..16 followed by the label): the test part of the UCI "Optical Recognition of Handwritten
Digits" data set (Alpaydin & Kaynak, 1998). Run:

    python scripts/make_digits_data.py [path/to/digits.csv.gz]

Without a path it looks for an installed scikit-learn. Writes images (1797, 8, 8) uint8 and
labels (1797,) uint8, compressed.
"""
import gzip
import pathlib
import sys

import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "minicnn" / "data" / "digits.npz"


def find_source() -> pathlib.Path:
    if len(sys.argv) > 1:
        return pathlib.Path(sys.argv[1])
    import sklearn  # only needed to locate the file
    return pathlib.Path(sklearn.__file__).parent / "datasets" / "data" / "digits.csv.gz"


def main():
    with gzip.open(find_source(), "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    assert table.shape == (1797, 65), table.shape
    images = table[:, :64].reshape(-1, 8, 8).astype(np.uint8)
    labels = table[:, 64].astype(np.uint8)
    assert images.max() == 16 and set(np.unique(labels)) == set(range(10))
    np.savez_compressed(OUT, images=images, labels=labels)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

"""minicnn.bench: benchmark the convolution algorithms (run `python -m minicnn.bench --help`)."""
from .layers import LAYERS, Layer, parse_layer
from .runner import PASSES, Result, Row, run_layer

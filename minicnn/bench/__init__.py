"""minicnn.bench: benchmark the convolution algorithms (run `python -m minicnn.bench --help`)."""
from .layers import LAYERS, Layer
from .runner import PASSES, Result, Row, run_layer

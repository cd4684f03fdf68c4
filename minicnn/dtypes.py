"""dtypes under PyTorch's names. Each is a numpy.dtype, so `t.dtype == minicnn.float32` and
`minicnn.zeros(3, dtype=minicnn.float64)` work, and NumPy accepts them too.

`float`, `double`, `long`, `int` and `bool` are PyTorch's aliases (float32, float64, int64, int32,
bool); they shadow Python's builtins only as attributes of this module and of `minicnn`.
"""
import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)  # noqa: A001  (torch.bool)

float = float32  # noqa: A001
double = float64
long = int64
int = int32  # noqa: A001

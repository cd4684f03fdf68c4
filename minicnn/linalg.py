"""minicnn.linalg: the part of torch.linalg minicnn has, vector norms (see functional.reduction)."""
from .functional.reduction import vector_norm

__all__ = ["vector_norm"]

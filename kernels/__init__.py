"""minicnn.kernels: the Numba kernels under minicnn's ops, one module per algorithm family.

Kernels work on NumPy arrays and know nothing of Tensors or autograd.
"""

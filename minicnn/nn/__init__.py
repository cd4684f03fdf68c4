"""minicnn.nn: layers as Modules (PyTorch's torch.nn)."""
from . import init
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .layers import Flatten, Identity, Linear
from .module import Module, ModuleList, Parameter, Sequential

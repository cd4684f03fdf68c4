"""minicnn.optim: optimisers with PyTorch's update rules."""
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

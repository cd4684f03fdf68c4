"""minicnn.optim: optimisers with PyTorch's update rules, and learning-rate schedules (lr_scheduler)."""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import Adagrad, RMSprop
from .sgd import SGD

"""minicnn.nn: layers as Modules (PyTorch's torch.nn)."""
from . import init, utils
from .activation import (ELU, GELU, Hardsigmoid, Hardswish, LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid, SiLU,
                         Softmax, Softplus, Tanh)
from .dropout import Dropout, Dropout2d, DropPath
from .conv import (Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d,
                   LocallyConnected2d, TiledConv2d)
from .fold import Fold, Unfold
from .layers import Flatten, Identity, Linear, Unflatten
from .lazy import (LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d, LazyConv1d, LazyConv2d, LazyConv3d,
                   LazyConvTranspose2d, LazyLinear, LazyModule)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss,
                   SmoothL1Loss)
from .module import (IncompatibleKeys, Module, ModuleDict, ModuleList, Parameter, ParameterDict, ParameterList,
                     Sequential)
from .norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, LocalContrastNorm, LocalResponseNorm
from .normalization import GroupNorm, LayerNorm
from .pool import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d,
                   AdaptiveMaxPool2d, AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
                   GlobalAvgPool2d, MaxPool1d, MaxPool2d, MaxPool3d, MaxUnpool1d, MaxUnpool2d,
                   MaxUnpool3d)
from .structure import Concat, Residual, SqueezeExcitation
from .upsampling import Upsample

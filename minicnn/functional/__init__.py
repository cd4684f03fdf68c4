"""minicnn.functional: every differentiable op, as plain functions (PyTorch's torch.nn.functional).

Each op is a `Function` subclass in the module of its family; the lowercase wrapper validates its
arguments, documents the shapes, and calls `.apply`.
"""
from .activation import (elu, gelu, hardsigmoid, hardswish, leaky_relu, log_softmax, relu, relu6, sigmoid,
                         silu, softmax, softplus, tanh)
from .arithmetic import add, bmm, cast, div, matmul, maximum, minimum, mm, mul, neg, pow, sub
from .conv import (conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d,
                   local_conv2d, tiled_conv2d)
from .dropout import drop_path, dropout, dropout2d
from .fold import fold, unfold
from .interpolate import interpolate
from .linear import linear
from .loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, l1_loss,
                   mse_loss, nll_loss, one_hot, smooth_l1_loss)
from .norm import (batch_norm, group_norm, layer_norm, local_contrast_norm, local_response_norm,
                   normalize)
from .pointwise import abs, clamp, clip, exp, log, sqrt
from .pool import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d,
                   adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d, avg_pool1d,
                   avg_pool2d, avg_pool3d, global_avg_pool2d, max_pool1d, max_pool2d, max_pool3d,
                   max_unpool1d, max_unpool2d, max_unpool3d)
from .reduction import (all, amax, amin, any, argmax, argmin, max, mean, min, sort, std, std_mean, sum,
                        topk, var, var_mean, vector_norm)
from .separable import depthwise_separable_conv2d, low_rank_conv2d, separable_conv2d
from .shape import (cat, flatten, getitem, index_arrays, pad, permute, reshape, setitem, split,
                    squeeze, stack, transpose, unsqueeze, where)

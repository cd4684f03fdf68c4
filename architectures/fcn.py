"""Fully convolutional networks for semantic segmentation: a class score for every pixel.

A classifier's pooling shrinks the feature maps, so its last layer is far smaller than the image;
a network that labels pixels must give back an (N, num_classes, H, W) map for an (N, C, H, W)
image. The lecture notes (convolution module, section 6) list three ways, one `variant` each:

    "nopool"   no pooling at all: every convolution has stride 1 and "same" padding. The receptive
               field grows through dilated 3x3 convolutions (dilation 1, 2, 4, 8: Yu and Koltun
               2016) instead of through pooling, so the whole image stays visible at full size.
    "upsample" a classifier-like network that pools twice (H/4 x W/4), emits its label scores on
               that coarse grid and upsamples them to H x W, with fixed bilinear interpolation
               (upsample="bilinear") or a learned transposed convolution initialised to bilinear
               interpolation (upsample="transposed", Long, Shelhamer and Darrell 2015, sec. 3.3).
    "unitpool" max pooling with stride 1 and padding (kernel 5, padding 2), which keeps the size
               while still taking the local maximum; it widens the receptive field by 4 per layer.
               (Computed as a 1 x 5 then a 5 x 1 pooling, the same maximum for less work.)

All three start with the same full-resolution stem (conv-BN-ReLU) and end with a 1x1 convolution
to num_classes scores; by default (context=True) the body ends with GlobalContext, which adds a
summary of the whole image at every position: in Shapes a pixel's class is its shape's, which
the pixel's own window only partly sees. Optionally (refine_steps=T > 0) the scores are then
refined T times by RecurrentRefinement, one convolution with weights shared across the steps
(after Pinheiro and Collobert 2014; the notes' "recurrent convolutional network").

Every builder takes num_classes (11 for Shapes: background + 10 shapes), width (multiplier on the
channel counts), in_channels, input_size (only for the model summary and the upsample variant's
divisibility check: the network runs on any size) and generator.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from minicnn import functional as F
from minicnn import nn
from minicnn.nn import init

from .common import check_width, conv_bn_relu, he_init_, scaled, square, variant

VARIANTS = ("nopool", "upsample", "unitpool")
UPSAMPLING = ("bilinear", "transposed")
DOWNSAMPLING = 4  # the upsample variant's coarse grid is H/4 x W/4 (two 2x2 poolings)


def dilated_conv_bn_relu(channels, dilation, generator):
    """A 3x3 convolution at stride 1 whose padding equals its dilation: the size is kept."""
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False,
                       generator=generator),
        bn=nn.BatchNorm2d(channels), relu=nn.ReLU()))


def nopool_body(c, generator):
    """Full resolution throughout; receptive field 1 + 2 (1 + 1 + 2 + 4 + 8 + 1) = 35 pixels."""
    layers = [(f"conv{i}", dilated_conv_bn_relu(c, d, generator)) for i, d in enumerate((1, 2, 4, 8, 1), 2)]
    return nn.Sequential(OrderedDict(layers))


def unit_stride_max_pool(size):
    """size x size max pooling with stride 1 and "same" padding, as a 1 x size then a size x 1
    pooling: the maximum over a rectangle is the maximum of its rows' maxima, so the output is the
    same for 2 size comparisons per pixel instead of size^2 (the 5 x 5 pooling cost as much as the
    convolutions)."""
    return nn.Sequential(OrderedDict(
        rows=nn.MaxPool2d((1, size), stride=1, padding=(0, size // 2)),
        columns=nn.MaxPool2d((size, 1), stride=1, padding=(size // 2, 0))))


def unitpool_body(c, generator):
    """conv 3x3 then max pool 5x5 with stride 1 and padding 2, four times, then a last conv:
    receptive field 1 + 2 + 4 (2 + 4) + 2 = 29 pixels on top of the stem, never a smaller map."""
    layers = []
    for i in range(2, 6):
        layers += [(f"conv{i}", conv_bn_relu(c, c, 3, padding=1, generator=generator)),
                   (f"pool{i}", unit_stride_max_pool(5))]
    layers.append(("conv6", conv_bn_relu(c, c, 3, padding=1, generator=generator)))
    return nn.Sequential(OrderedDict(layers))


def upsample_body(c, generator):
    """Two 2x2 poolings to H/4 x W/4 with twice the channels, then dilated convolutions there."""
    return nn.Sequential(OrderedDict(
        conv2=conv_bn_relu(c, c, 3, padding=1, generator=generator), pool2=nn.MaxPool2d(2),
        conv3=conv_bn_relu(c, 2 * c, 3, padding=1, generator=generator), pool3=nn.MaxPool2d(2),
        conv4=dilated_conv_bn_relu(2 * c, 1, generator),
        conv5=dilated_conv_bn_relu(2 * c, 2, generator),
        conv6=dilated_conv_bn_relu(2 * c, 4, generator)))


class GlobalContext(nn.Module):
    """x + relu(W mean_{h,w}(x) + b): every position also gets a summary of the whole image.

    A pixel's class in Shapes is the class of the whole shape it lies on, which a local window
    sees only in part; the image mean of the features, passed through a 1x1 convolution and added
    at every position, tells each pixel what the whole image holds (ParseNet's global context,
    Liu, Rabinovich and Berg 2015). (N, C, H, W) -> (N, C, H, W), any H, W.
    """

    def __init__(self, channels: int, *, generator=None):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1, generator=generator)

    def forward(self, x):
        return x + F.relu(self.conv(F.adaptive_avg_pool2d(x, 1)))


def bilinear_kernel(channels: int, size: int, dtype=np.float32) -> np.ndarray:
    """(channels, 1, size, size) weights that make a grouped transposed convolution with stride
    size // 2 (size even) an exact bilinear upsampling away from the borders: the outer product of
    the 1-D tent (1 - |t - centre| / f), f = size / 2, centre = (size - 1) / 2 (FCN's init)."""
    factor = size // 2
    centre = (size - 1) / 2
    tent = 1 - np.abs(np.arange(size) - centre) / factor
    return np.broadcast_to(np.outer(tent, tent), (channels, 1, size, size)).astype(dtype)


class BilinearUpsample(nn.Module):
    """Fixed bilinear upsampling of the scores by an integer factor (F.interpolate, align_corners=False)."""

    def __init__(self, factor: int):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.factor, mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


def transposed_upsample(channels: int, factor: int) -> nn.ConvTranspose2d:
    """A learnable per-class transposed convolution (kernel 2f, stride f, padding f / 2) starting
    as bilinear interpolation: output size (n - 1) f - f + 2f = n f."""
    layer = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2,
                               groups=channels, bias=False)
    layer.weight.array[...] = bilinear_kernel(channels, 2 * factor, layer.weight.array.dtype)
    return layer


class RecurrentRefinement(nn.Module):
    """Refine per-pixel class scores by applying one convolution T times (weights shared).

        s_0 = scores,    s_t = s_{t-1} + conv([h, softmax(s_{t-1})])    t = 1..T

    h: (N, F, H, W) image features at full resolution (here the stem's output), concatenated on
    the channel axis with the current class probabilities (N, K, H, W); conv: one (F + K) -> K
    convolution with kernel_size x kernel_size "same" padding, the same weights at every step, so
    its gradient is the sum of the T steps' gradients. Each step lets a pixel's label depend on
    its neighbours' labels and on the local image evidence, and T steps spread that T times as
    far: the notes' recurrent convolutional network, after Pinheiro and Collobert (2014), who feed
    a shared-weight network the image together with its own previous label planes. The step
    adds a correction to the scores (rather than replacing them) so that a step that has learnt
    nothing yet leaves a good prediction as it was. T = 0 returns the scores unchanged.
    """

    def __init__(self, feature_channels: int, num_classes: int, steps: int, kernel_size: int = 3,
                 *, generator=None):
        super().__init__()
        if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
            raise ValueError(f"RecurrentRefinement: steps must be a non-negative int, got {steps!r}")
        if not isinstance(kernel_size, (int, np.integer)) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"RecurrentRefinement: kernel_size must be a positive odd int, got {kernel_size!r}")
        self.steps, self.num_classes = int(steps), int(num_classes)
        self.conv = nn.Conv2d(feature_channels + num_classes, num_classes, kernel_size,
                              padding=kernel_size // 2, generator=generator)

    def forward(self, features, scores):
        # conv([h, p]) = conv_h(h) + conv_p(p), the weight split along its input channels. h is the
        # same at every step, so its share (with the bias) is computed once and each step convolves
        # only the K probability planes: F + T K input planes instead of T (F + K), half the cost
        # for the stem's F = 32, K = 11 and T = 3.
        if self.steps == 0:
            return scores
        weight = self.conv.weight
        split = weight.shape[1] - self.num_classes
        padding = self.conv.padding
        image_term = F.conv2d(features, weight[:, :split], self.conv.bias, padding=padding)
        for _ in range(self.steps):
            scores = scores + image_term + F.conv2d(F.softmax(scores, dim=1), weight[:, split:], padding=padding)
        return scores

    def extra_repr(self) -> str:
        return f"steps={self.steps}"


class SegmentationNet(nn.Module):
    """stem (full-resolution features h) -> body -> 1x1 classifier -> upsample -> refine.

    forward(x): (N, in_channels, H, W) -> (N, num_classes, H, W) scores (logits) per pixel.
    `upsample` may be nn.Identity and `refine` None (no refinement). input_shape is (C, H, W) the network
    was built for (it runs on any H, W the body accepts).
    """

    def __init__(self, stem, body, classifier, upsample, refine, *, input_shape):
        super().__init__()
        self.stem, self.body, self.classifier = stem, body, classifier
        self.upsample, self.refine = upsample, refine
        self.input_shape = tuple(input_shape)

    def coarse_scores(self, x):
        """The scores before refinement, (N, num_classes, H, W), and the stem's features."""
        features = self.stem(x)
        return self.upsample(self.classifier(self.body(features))), features

    def forward(self, x):
        shape = tuple(x.shape)
        if len(shape) != 4 or shape[1] != self.input_shape[0]:
            raise ValueError(f"{type(self).__name__}: expected an (N, {self.input_shape[0]}, H, W) input, "
                             f"got shape {shape}")
        if self.needs_multiple and (shape[2] % DOWNSAMPLING or shape[3] % DOWNSAMPLING):
            raise ValueError(f"{type(self).__name__}: the upsample variant needs H and W divisible by "
                             f"{DOWNSAMPLING}, got {shape[2]}x{shape[3]}")
        scores, features = self.coarse_scores(x)
        return scores if self.refine is None else self.refine(features, scores)

    @property
    def needs_multiple(self) -> bool:
        return not isinstance(self.upsample, nn.Identity)


def fcn(*, variant="nopool", num_classes=11, width=1.0, in_channels=3, input_size=32,
        upsample="bilinear", context=True, refine_steps=0, refine_kernel=3, generator=None):
    """A fully convolutional segmentation network (see the module docstring for the variants).

    variant: "nopool", "upsample" or "unitpool"; upsample (variant "upsample" only): "bilinear"
    (fixed) or "transposed" (learned, starting bilinear); refine_steps: T steps of
    RecurrentRefinement (0: none) with a refine_kernel x refine_kernel convolution;
    context=True (the default) adds GlobalContext (image-mean features at every position) after
    the body; context=False leaves each pixel with what its receptive field sees.
    Base width 32 channels (64 on the upsample variant's coarse grid) times `width`.
    (N, in_channels, H, W) -> (N, num_classes, H, W).
    """
    if variant not in VARIANTS:
        raise ValueError(f"fcn: variant must be one of {VARIANTS}, got {variant!r}")
    if upsample not in UPSAMPLING:
        raise ValueError(f"fcn: upsample must be one of {UPSAMPLING}, got {upsample!r}")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"fcn: num_classes must be an int >= 2, got {num_classes!r}")
    check_width("fcn", width)
    height, width_px = square("fcn", input_size)
    if variant == "upsample" and (height % DOWNSAMPLING or width_px % DOWNSAMPLING):
        raise ValueError(f"fcn: the upsample variant needs input_size divisible by {DOWNSAMPLING}, "
                         f"got {input_size!r}")
    c = scaled(32, width)
    stem = conv_bn_relu(in_channels, c, 3, padding=1, generator=generator)
    body = {"nopool": nopool_body, "unitpool": unitpool_body, "upsample": upsample_body}[variant](c, generator)
    body_channels = 2 * c if variant == "upsample" else c
    if context:
        body.add_module("context", GlobalContext(body_channels, generator=generator))
    classifier = nn.Conv2d(body_channels, num_classes, 1, generator=generator)
    if variant != "upsample":
        up = nn.Identity()
    elif upsample == "bilinear":
        up = BilinearUpsample(DOWNSAMPLING)
    else:
        up = transposed_upsample(num_classes, DOWNSAMPLING)
    refine = RecurrentRefinement(c, num_classes, refine_steps, refine_kernel, generator=generator)
    if refine_steps == 0:
        refine = None
    model = SegmentationNet(stem, body, classifier, up, refine, input_shape=(in_channels, height, width_px))
    he_init_(nn.Sequential(OrderedDict(stem=stem, body=body)), generator, mode="fan_out")
    if refine is not None:  # refinement starts as the identity, s_t = s_0, and learns its corrections
        init.zeros_(refine.conv.weight)
        init.zeros_(refine.conv.bias)
    return model


fcn_nopool = variant(fcn, "fcn_nopool", "Segmentation without pooling (dilated 3x3 convolutions)",
                     variant="nopool")
fcn_upsample = variant(fcn, "fcn_upsample", "Segmentation on an H/4 x W/4 grid upsampled to H x W",
                       variant="upsample")
fcn_unitpool = variant(fcn, "fcn_unitpool", "Segmentation with stride-1 max pooling",
                       variant="unitpool")

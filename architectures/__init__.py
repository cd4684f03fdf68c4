"""minicnn.architectures: the model zoo, one module per family, built only from minicnn's public API.

Every builder is a plain function of keyword options returning a Classifier (an nn.Module with
forward(x) -> logits and features(x) -> the embedding before the classifier). Common options:
num_classes; generator (a numpy Generator for the initialisation and for the dropout / drop-path
masks; None: minicnn.random.default_generator()); width (a multiplier on every hidden width, for
reduced copies with the same topology) and input_size on the ImageNet models.

    >>> from minicnn import architectures
    >>> model = architectures.build("resnet_cifar", depth=56)
    >>> model = architectures.vgg.vgg(depth=16, batch_norm=True)  # family builders: in their modules
"""
from __future__ import annotations

from . import alexnet, densenet, googlenet, inception, inception_v4, lenet, nin, resnet, vgg
from .common import Classifier, options_of

BUILDERS = {
    builder.__name__: builder for builder in (
        lenet.lenet5,
        alexnet.alexnet, alexnet.zfnet,
        vgg.vgg11, vgg.vgg13, vgg.vgg16, vgg.vgg19,
        nin.nin_cifar,
        googlenet.googlenet, inception.inception_v2, inception.inception_v3,
        inception_v4.inception_v4, inception_v4.inception_resnet_v2,
        resnet.resnet18, resnet.resnet34, resnet.resnet50, resnet.resnet101,
        resnet.resnet152, resnet.se_resnet50, resnet.wide_resnet50_2, resnet.resnext50_32x4d,
        resnet.resnext101_32x8d,
        resnet.resnet_cifar, resnet.preact_resnet_cifar, resnet.stochastic_depth_resnet_cifar,
        resnet.wide_resnet_cifar,
        densenet.densenet121, densenet.densenet169, densenet.densenet201,
        densenet.densenet_bc_cifar,
    )
}


def available() -> list:
    """The names `build` accepts, sorted."""
    return sorted(BUILDERS)


def build(name: str, **options) -> Classifier:
    """The model called `name`, built with keyword `options` (see that builder's docstring).

    Unknown name: ValueError listing the known ones; unknown option: TypeError listing the
    builder's options.
    """
    if name not in BUILDERS:
        raise ValueError(f"architectures.build: unknown architecture {name!r}; available: "
                         f"{', '.join(available())}")
    builder = BUILDERS[name]
    accepted = options_of(builder)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(f"architectures.build: {name} has no option {', '.join(map(repr, unknown))}; "
                        f"its options are {', '.join(accepted)}")
    return builder(**options)


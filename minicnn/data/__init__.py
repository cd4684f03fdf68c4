"""Data: datasets, the DataLoader, transforms, and the data minicnn ships or makes.

Shaped like torch.utils.data and torchvision: Dataset, TensorDataset, Subset, random_split,
DataLoader; the bundled digits (Digits, load_digits), the procedural Shapes, Signals (1-D) and
Volumes (3-D), loaders for MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 files on disk; image
transforms in minicnn.data.transforms.
"""
from . import transforms
from .cifar import CIFAR10, CIFAR100
from .dataset import Dataset, ImageDataset, Subset, TensorDataset, random_split
from .digits import Digits, load_digits
from .loader import DataLoader, default_collate
from .mnist import MNIST, FashionMNIST
from .shapes import SHAPE_CLASSES, Shapes, make_shapes
from .signals import SIGNAL_CLASSES, Signals, make_signals
from .volumes import VOLUME_CLASSES, Volumes, make_volumes

__all__ = ["CIFAR10", "CIFAR100", "DataLoader", "Dataset", "Digits", "FashionMNIST", "ImageDataset", "MNIST",
           "SHAPE_CLASSES", "Shapes", "Subset", "TensorDataset", "default_collate", "load_digits",
           "make_shapes", "random_split", "transforms", "SIGNAL_CLASSES", "Signals", "make_signals",
           "VOLUME_CLASSES", "Volumes", "make_volumes"]

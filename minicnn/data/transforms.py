"""Image transforms, composable and seeded, as torchvision.transforms, on NumPy float32 (C, H, W) arrays.

A transform is a callable image -> image. Random ones draw from `self.generator` (the one given,
or minicnn's default generator at the time of the call when `generator=None`), so a trainer can
save and restore its state and a seeded run is reproduced exactly.

    train = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), Normalize(mean, std)])
"""
from __future__ import annotations

import numpy as np

from ..functional.checks import is_int
from ..random import get_generator

# AlexNet's lighting noise uses the principal components of ImageNet's RGB pixels (Krizhevsky et al.
# 2012, section 4.1); these are the figures of fb.resnet.torch, which most reimplementations copy.
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


def _size_pair(size, name: str) -> tuple:
    """An int or an (h, w) pair of positive ints as (h, w)."""
    pair = (size, size) if is_int(size) else size
    if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(is_int(s) and s > 0 for s in pair):
        raise ValueError(f"{name}: size must be a positive int or an (h, w) pair of them, got {size!r}")
    return int(pair[0]), int(pair[1])


def _image(image, name: str) -> np.ndarray:
    """`image` as a (C, H, W) array, or a clear error."""
    array = np.asarray(image)
    if array.ndim != 3:
        raise ValueError(f"{name}: expected an image of shape (C, H, W), got shape {array.shape}")
    return array


def _crop(image: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    return image[:, top:top + height, left:left + width]


def _check_fits(image: np.ndarray, size: tuple, name: str) -> None:
    if size[0] > image.shape[1] or size[1] > image.shape[2]:
        raise ValueError(f"{name}: crop size {size} is larger than the image ({image.shape[1]}, {image.shape[2]})")


def resize_bilinear(images: np.ndarray, size: tuple) -> np.ndarray:
    """Bilinear resampling of the last two axes to `size` = (h, w), PyTorch's
    F.interpolate(mode="bilinear", align_corners=False) convention.

    Output pixel i along an axis of n -> m samples reads the input at the continuous position
    s = (i + 1/2) n / m - 1/2 (pixel centres line up; s clamped at 0 below and at n - 1 above) and
    mixes its two neighbours: (1 - f) x[floor(s)] + f x[floor(s) + 1], f = s - floor(s). Shrinking
    does no antialiasing (like F.interpolate without antialias=True).
    Elementwise only (no matrix product), so the result is the same on every machine.
    """
    out = np.asarray(images)
    for axis, m in ((-2, size[0]), (-1, size[1])):
        n = out.shape[axis]
        source = np.maximum((np.arange(m) + 0.5) * (n / m) - 0.5, 0.0)
        low = np.minimum(np.floor(source).astype(np.int64), n - 1)
        high = np.minimum(low + 1, n - 1)
        shape = [1] * out.ndim
        shape[axis] = m
        frac = (source - low).astype(out.dtype if np.issubdtype(out.dtype, np.floating) else np.float32).reshape(shape)
        out = np.take(out, low, axis=axis) * (1 - frac) + np.take(out, high, axis=axis) * frac
    return out


class Compose:
    """Apply `transforms` in order: Compose([a, b])(x) == b(a(x))."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {type(t).__name__}")

    def __call__(self, image):
        for t in self.transforms:
            image = t(image)
        return image

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class ToFloat:
    """An image as float32 (C, H, W) in [0, 1], as torchvision's ToTensor (but still a NumPy array).

    uint8 images are divided by 255; floating ones are only cast. (H, W) becomes (1, H, W). A
    3-d image is read as (H, W, C) when its last axis has 1, 3 or 4 entries and its first does not
    (the layout of image files), as (C, H, W) the other way round; `layout="HWC"` or `"CHW"` settles
    the case where both or neither do.
    """

    def __init__(self, layout: str = "auto"):
        if layout not in ("auto", "HWC", "CHW"):
            raise ValueError(f"ToFloat: layout must be 'auto', 'HWC' or 'CHW', got {layout!r}")
        self.layout = layout

    def __call__(self, image):
        array = np.asarray(image)
        if array.ndim == 2:
            array = array[None]
        elif array.ndim != 3:
            raise ValueError(f"ToFloat: expected an image of shape (H, W), (H, W, C) or (C, H, W), got {array.shape}")
        else:
            layout = self.layout
            if layout == "auto":
                channels_last, channels_first = array.shape[2] in (1, 3, 4), array.shape[0] in (1, 3, 4)
                if channels_last == channels_first:
                    raise ValueError(f"ToFloat: cannot tell whether shape {array.shape} is (H, W, C) or "
                                     "(C, H, W); pass layout='HWC' or layout='CHW'")
                layout = "HWC" if channels_last else "CHW"
            if layout == "HWC":
                array = array.transpose(2, 0, 1)
        if array.dtype == np.uint8:
            return np.ascontiguousarray(array, dtype=np.float32) / np.float32(255)
        if not np.issubdtype(array.dtype, np.floating):
            raise TypeError(f"ToFloat: expected uint8 or floating pixels, got dtype {array.dtype}")
        return np.ascontiguousarray(array, dtype=np.float32)

    def __repr__(self) -> str:
        return f"ToFloat(layout={self.layout!r})"


ToTensor = ToFloat  # torchvision's name; the result is a NumPy array the DataLoader batches into a Tensor


class Normalize:
    """Per channel: (x[c] - mean[c]) / std[c]. One value each broadcasts to every channel."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(std, dtype=np.float64).reshape(-1)
        if len(self.mean) == 0 or len(self.std) == 0 or (self.std <= 0).any():
            raise ValueError(f"Normalize: needs mean and std values with every std > 0, got mean={mean!r}, std={std!r}")

    def __call__(self, image):
        image = _image(image, "Normalize")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, image.shape[0]):
                raise ValueError(f"Normalize: {len(values)} {name} values for an image with {image.shape[0]} channels")
        dtype = image.dtype if np.issubdtype(image.dtype, np.floating) else np.float32
        mean = self.mean.astype(dtype)[:, None, None]
        return (image - mean) / self.std.astype(dtype)[:, None, None]

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomTransform:
    """Base of the random transforms: holds the generator they draw from."""

    def __init__(self, generator=None):
        if generator is not None:
            get_generator(generator)  # a TypeError now, not at the first image
        self._generator = generator

    @property
    def generator(self) -> np.random.Generator:
        """The generator given, or minicnn's default generator (looked up at each call)."""
        return get_generator(self._generator)

    @generator.setter
    def generator(self, generator) -> None:
        get_generator(generator)  # the same TypeError as the constructor's
        self._generator = generator


PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


class RandomCrop(RandomTransform):
    """A crop of `size` at a uniformly random position, after padding (torchvision's RandomCrop).

    padding: an int (all four sides), (left/right, top/bottom) or (left, top, right, bottom), as
    torchvision; padding_mode "constant" (with `fill`), "edge", "reflect" or "symmetric".
    CIFAR's standard augmentation is RandomCrop(32, padding=4) with a horizontal flip.
    """

    def __init__(self, size, padding=None, fill=0.0, padding_mode="constant", generator=None):
        super().__init__(generator)
        self.size = _size_pair(size, "RandomCrop")
        if padding_mode not in PAD_MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of {sorted(PAD_MODES)}, got {padding_mode!r}")
        sides = padding if padding is not None else 0
        sides = (sides,) * 4 if is_int(sides) else tuple(sides)
        if len(sides) == 2:
            sides = sides * 2
        if len(sides) != 4 or not all(is_int(p) and p >= 0 for p in sides):
            raise ValueError("RandomCrop: padding must be a non-negative int, (left/right, top/bottom) or "
                             f"(left, top, right, bottom), got {padding!r}")
        self.padding, self.fill, self.padding_mode = sides, fill, padding_mode

    def pad(self, image: np.ndarray) -> np.ndarray:
        left, top, right, bottom = self.padding
        widths = ((0, 0), (top, bottom), (left, right))
        if self.padding_mode == "constant":
            return np.pad(image, widths, mode="constant", constant_values=self.fill)
        return np.pad(image, widths, mode=PAD_MODES[self.padding_mode])

    def __call__(self, image):
        image = self.pad(_image(image, "RandomCrop"))
        _check_fits(image, self.size, "RandomCrop")
        top = int(self.generator.integers(0, image.shape[1] - self.size[0] + 1))
        left = int(self.generator.integers(0, image.shape[2] - self.size[1] + 1))
        return _crop(image, top, left, *self.size)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding}, padding_mode={self.padding_mode!r})"


class RandomResizedCrop(RandomTransform):
    """A random crop of random area and aspect ratio, resized to `size` (Inception's augmentation,
    torchvision's RandomResizedCrop).

    Tries 10 times to draw an area fraction from U(scale) and an aspect ratio w/h log-uniformly
    from `ratio` that fit in the image; then falls back to the largest centre crop with the ratio
    clamped to `ratio`. The crop is resized bilinearly.
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), generator=None):
        super().__init__(generator)
        self.size = _size_pair(size, "RandomResizedCrop")
        if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"RandomResizedCrop: need 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], "
                             f"got scale={scale!r}, ratio={ratio!r}")
        self.scale, self.ratio = tuple(scale), tuple(ratio)

    def crop_box(self, height: int, width: int) -> tuple:
        """(top, left, h, w) of the crop for an image of height x width."""
        area = height * width
        log_ratio = np.log(self.ratio)
        for _ in range(10):
            target = area * self.generator.uniform(*self.scale)
            aspect = np.exp(self.generator.uniform(*log_ratio))
            w, h = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(self.generator.integers(0, height - h + 1))
                left = int(self.generator.integers(0, width - w + 1))
                return top, left, h, w
        aspect = width / height
        if aspect < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif aspect > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, image):
        image = _image(image, "RandomResizedCrop")
        return resize_bilinear(_crop(image, *self.crop_box(*image.shape[1:])), self.size)

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"


class RandomHorizontalFlip(RandomTransform):
    """Mirror the image left-right with probability p."""

    def __init__(self, p=0.5, generator=None):
        super().__init__(generator)
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p!r}")
        self.p = p

    def __call__(self, image):
        image = _image(image, "RandomHorizontalFlip")
        return image[:, :, ::-1] if self.generator.random() < self.p else image

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


def _blend(image, other, factor):
    """factor * image + (1 - factor) * other, clipped to [0, 1] (torchvision's _blend)."""
    return np.clip(factor * image + (1 - factor) * other, 0, 1).astype(image.dtype, copy=False)


def grayscale(image: np.ndarray) -> np.ndarray:
    """Luma of an RGB (3, H, W) image as (1, H, W): 0.2989 R + 0.587 G + 0.114 B."""
    r, g, b = image
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b)[None].astype(image.dtype)


def rgb_to_hsv(image: np.ndarray) -> np.ndarray:
    """(3, H, W) RGB in [0, 1] -> (3, H, W) hue, saturation, value in [0, 1] (torchvision's _rgb2hsv)."""
    r, g, b = image
    value, low = image.max(axis=0), image.min(axis=0)
    chroma = value - low
    grey = chroma == 0
    saturation = chroma / np.where(grey, 1, value)
    divisor = np.where(grey, 1, chroma)
    rc, gc, bc = (value - r) / divisor, (value - g) / divisor, (value - b) / divisor
    hue = np.where(value == r, bc - gc, np.where(value == g, 2 + rc - bc, 4 + gc - rc))
    hue = np.where(grey, 0, hue)
    return np.stack([np.mod(hue / 6 + 1, 1), saturation, value])


def hsv_to_rgb(image: np.ndarray) -> np.ndarray:
    """Inverse of rgb_to_hsv: the hue's sextant picks which of v, p, q, t each channel takes."""
    h, s, v = image
    sextant = np.floor(h * 6)
    f = h * 6 - sextant
    sextant = sextant.astype(np.int64) % 6
    p, q, t = (np.clip(v * (1 - s * k), 0, 1) for k in (1, f, 1 - f))
    table = np.stack([np.stack(c) for c in ((v, q, p, p, t, v), (t, v, v, q, p, p), (p, p, t, v, v, q))])
    return np.take_along_axis(table, np.broadcast_to(sextant, (3, 1) + sextant.shape), axis=1)[:, 0]


def _jitter_range(value, name: str, centre: float, bound=None) -> tuple:
    """torchvision's convention: a number v means [centre - v, centre + v] (clipped at 0), a pair is the range."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"ColorJitter: {name} must be non-negative, got {value!r}")
        low, high = centre - value, centre + value
        if bound is None:
            low = max(low, 0.0)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        low, high = float(value[0]), float(value[1])
    else:
        raise TypeError(f"ColorJitter: {name} must be a number or a (min, max) pair, got {value!r}")
    if low > high or (bound is not None and not (-bound <= low <= high <= bound)) or (bound is None and low < 0):
        limits = f"within [-{bound}, {bound}]" if bound is not None else "non-negative"
        raise ValueError(f"ColorJitter: {name} range must be {limits} and increasing, got ({low}, {high})")
    return (low, high)


class ColorJitter(RandomTransform):
    """Random brightness, contrast, saturation and hue changes in a random order (torchvision's ColorJitter).

    Factors are drawn uniformly: brightness b, contrast c and saturation s from [max(0, 1 - v), 1 + v],
    hue h from [-v, v] (v <= 0.5). brightness: x b; contrast: blend with the mean grey level,
    c x + (1 - c) mean(gray(x)); saturation: s x + (1 - s) gray(x); hue: rotate the HSV hue by h
    turns. Results are clipped to [0, 1]. Saturation and hue leave a 1-channel image unchanged.
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0, generator=None):
        super().__init__(generator)
        self.brightness = _jitter_range(brightness, "brightness", 1.0)
        self.contrast = _jitter_range(contrast, "contrast", 1.0)
        self.saturation = _jitter_range(saturation, "saturation", 1.0)
        self.hue = _jitter_range(hue, "hue", 0.0, bound=0.5)

    def __call__(self, image):
        image = _image(image, "ColorJitter")
        if image.shape[0] not in (1, 3):
            raise ValueError(f"ColorJitter: expected 1 or 3 channels, got {image.shape[0]}")
        for step in self.generator.permutation(4):
            if step == 0 and self.brightness != (1.0, 1.0):
                image = _blend(image, 0.0, self.generator.uniform(*self.brightness))
            elif step == 1 and self.contrast != (1.0, 1.0):
                mean = (grayscale(image) if image.shape[0] == 3 else image).mean()
                image = _blend(image, mean, self.generator.uniform(*self.contrast))
            elif step == 2 and self.saturation != (1.0, 1.0):
                factor = self.generator.uniform(*self.saturation)
                image = _blend(image, grayscale(image), factor) if image.shape[0] == 3 else image
            elif step == 3 and self.hue != (0.0, 0.0):
                shift = self.generator.uniform(*self.hue)
                if image.shape[0] == 3:
                    hsv = rgb_to_hsv(image)
                    hsv[0] = np.mod(hsv[0] + shift, 1.0)
                    image = hsv_to_rgb(hsv).astype(image.dtype)
        return image

    def __repr__(self) -> str:
        return (f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation}, hue={self.hue})")


class PCALighting(RandomTransform):
    """AlexNet's lighting noise (Krizhevsky et al. 2012, section 4.1): add to every pixel the
    same RGB offset eigvec @ (alpha * eigval), alpha ~ N(0, alphastd^2) drawn once per image.

    eigval (3,) and eigvec (3, 3) (eigenvectors as columns) are the principal components of the
    training set's RGB pixels; ImageNet's by default. AlexNet used alphastd = 0.1.
    """

    def __init__(self, alphastd=0.1, eigval=IMAGENET_EIGVAL, eigvec=IMAGENET_EIGVEC, generator=None):
        super().__init__(generator)
        self.alphastd = float(alphastd)
        self.eigval = np.asarray(eigval, dtype=np.float64)
        self.eigvec = np.asarray(eigvec, dtype=np.float64)
        if self.alphastd < 0 or self.eigval.shape != (3,) or self.eigvec.shape != (3, 3):
            raise ValueError(f"PCALighting: needs alphastd >= 0, eigval of shape (3,) and eigvec of shape (3, 3), "
                             f"got {alphastd!r}, {self.eigval.shape}, {self.eigvec.shape}")

    def __call__(self, image):
        image = _image(image, "PCALighting")
        if image.shape[0] != 3:
            raise ValueError(f"PCALighting: expected an RGB image (3 channels), got {image.shape[0]}")
        alpha = self.generator.normal(0.0, self.alphastd, size=3)
        offset = (self.eigvec * (alpha * self.eigval)).sum(axis=1)  # eigvec @ (alpha * eigval), no BLAS
        return image + offset.astype(image.dtype)[:, None, None]

    def __repr__(self) -> str:
        return f"PCALighting(alphastd={self.alphastd})"


def center_crop(image: np.ndarray, size: tuple) -> np.ndarray:
    """The (h, w) crop at the centre, rounding the offset as torchvision does."""
    top = int(round((image.shape[1] - size[0]) / 2.0))
    left = int(round((image.shape[2] - size[1]) / 2.0))
    return _crop(image, top, left, *size)


class CenterCrop:
    """The crop of `size` (an int or (h, w)) at the centre of the image."""

    def __init__(self, size):
        self.size = _size_pair(size, "CenterCrop")

    def __call__(self, image):
        image = _image(image, "CenterCrop")
        _check_fits(image, self.size, "CenterCrop")
        return center_crop(image, self.size)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class Resize:
    """Bilinear resize (see resize_bilinear). size (h, w) is the output; an int is the output's
    shorter side, the other keeping the aspect ratio (int(size * long / short)), as torchvision."""

    def __init__(self, size):
        self.size = size if is_int(size) and size > 0 else _size_pair(size, "Resize")

    def __call__(self, image):
        image = _image(image, "Resize")
        size = self.size
        if is_int(size):
            h, w = image.shape[1:]
            size = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
        return resize_bilinear(image, size)

    def __repr__(self) -> str:
        return f"Resize(size={self.size})"


class TenCrop:
    """Ten-crop evaluation (AlexNet, section 4.1): the four corner crops and the centre crop of
    `size`, then the same five of the mirrored image (flipped top-bottom with vertical_flip=True).
    Returns (10, C, h, w); average a model's outputs over the ten."""

    def __init__(self, size, vertical_flip=False):
        self.size, self.vertical_flip = _size_pair(size, "TenCrop"), bool(vertical_flip)

    def five_crops(self, image: np.ndarray) -> list:
        (h, w), (height, width) = self.size, image.shape[1:]
        corners = [(0, 0), (0, width - w), (height - h, 0), (height - h, width - w)]
        return [_crop(image, top, left, h, w) for top, left in corners] + [center_crop(image, self.size)]

    def __call__(self, image):
        image = _image(image, "TenCrop")
        _check_fits(image, self.size, "TenCrop")
        mirrored = image[:, ::-1, :] if self.vertical_flip else image[:, :, ::-1]
        return np.stack(self.five_crops(image) + self.five_crops(mirrored))

    def __repr__(self) -> str:
        return f"TenCrop(size={self.size}, vertical_flip={self.vertical_flip})"

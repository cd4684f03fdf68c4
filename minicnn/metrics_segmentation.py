"""Segmentation metrics: pixel accuracy and mean intersection over union (PASCAL VOC's measure).

Inputs are NumPy arrays or Tensors: `target` (N, H, W) (or any (N, *)) integer class per pixel,
`output` either scores (N, K, H, W) (logits or probabilities; the class is the argmax over axis 1)
or predicted classes of the target's shape. Pixels whose target is `ignore_index` are left out of
every count. The counts are summed over the whole set before dividing (the dataset-level IoU of the
VOC benchmark), not averaged image by image.
"""
from __future__ import annotations

import numpy as np


def _pixels(name, output, target, ignore_index):
    """(predicted, true) flat int64 arrays of the pixels that count."""
    target, output = np.asarray(target), np.asarray(output)
    if not np.issubdtype(target.dtype, np.integer) or target.ndim < 1:
        raise ValueError(f"{name}: target must be (N, *) integer classes, got {target.dtype} of shape {target.shape}")
    if output.ndim == target.ndim + 1:
        if output.shape[:1] + output.shape[2:] != target.shape:
            raise ValueError(f"{name}: scores of shape {output.shape} do not match targets of shape {target.shape} "
                             f"(expected (N, K, *) for targets (N, *))")
        output = output.argmax(axis=1)
    elif output.shape != target.shape:
        raise ValueError(f"{name}: expected (N, K, *) scores or (N, *) classes for targets of shape "
                         f"{target.shape}, got shape {output.shape}")
    elif not np.issubdtype(output.dtype, np.integer):
        raise ValueError(f"{name}: predicted classes must be integers, got {output.dtype} (pass the scores "
                         f"with their class axis, (N, K, *), to take the argmax)")
    keep = target != ignore_index if ignore_index is not None else np.ones(target.shape, bool)
    return output[keep].astype(np.int64), target[keep].astype(np.int64)


def segmentation_confusion(output, target, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """(K, K) int64 pixel counts, rows the true class and columns the predicted one."""
    predicted, true = _pixels("segmentation_confusion", output, target, ignore_index)
    for which, values in (("target", true), ("prediction", predicted)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"segmentation_confusion: {which} classes must lie in [0, {num_classes}), got "
                             f"{values.min()}..{values.max()}")
    counts = np.bincount(num_classes * true + predicted, minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes)


def pixel_accuracy(output, target, ignore_index: int | None = None) -> float:
    """Fraction of the (non-ignored) pixels whose predicted class is the true one; NaN if none count."""
    predicted, true = _pixels("pixel_accuracy", output, target, ignore_index)
    return float(np.mean(predicted == true)) if true.size else float("nan")


def iou_per_class(confusion) -> np.ndarray:
    """IoU_c = TP_c / (TP_c + FP_c + FN_c) = |predicted c and true c| / |predicted c or true c|,
    (K,) float64; NaN for a class that is neither predicted nor present (its IoU is 0 / 0)."""
    confusion = np.asarray(confusion, np.int64)
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp
    return np.divide(tp, union, out=np.full(len(tp), np.nan), where=union > 0)


def mean_iou(output, target, num_classes: int, ignore_index: int | None = None) -> float:
    """The mean of iou_per_class over the classes present in the prediction or the truth.

    A class absent from both has no IoU (0 / 0) and is left out of the mean, as in the VOC
    evaluation; a class predicted but absent from the truth (or the reverse) counts with IoU 0.
    NaN if no pixel counts at all.
    """
    ious = iou_per_class(segmentation_confusion(output, target, num_classes, ignore_index))
    present = ~np.isnan(ious)
    return float(ious[present].mean()) if present.any() else float("nan")


def segmentation_report(output, target, num_classes: int, class_names=None) -> str:
    """The table a segmentation run prints at its end: pixel accuracy, mean IoU, then each class's
    IoU and its number of true pixels ("-" for a class neither present nor predicted)."""
    confusion = segmentation_confusion(output, target, num_classes)
    ious = iou_per_class(confusion)
    names = [str(n) for n in class_names] if class_names is not None else [str(c) for c in range(num_classes)]
    present = ~np.isnan(ious)
    total = int(confusion.sum())
    lines = [f"pixel accuracy {100 * np.trace(confusion) / max(total, 1):6.2f}%  ({total} pixels)",
             f"mean IoU       {100 * ious[present].mean() if present.any() else float('nan'):6.2f}%  "
             f"(over the {int(present.sum())} classes present or predicted)", ""]
    width = max(12, *(len(n) for n in names))
    lines.append(f"{'class':<{width}} {'IoU':>8} {'pixels':>9}")
    for name, iou, support in zip(names, ious, confusion.sum(axis=1)):
        shown = f"{100 * iou:7.2f}%" if not np.isnan(iou) else f"{'-':>8}"
        lines.append(f"{name:<{width}} {shown} {support:9d}")
    return "\n".join(lines)

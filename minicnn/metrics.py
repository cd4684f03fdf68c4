"""Classification metrics: accuracy, top-k error, the confusion matrix, per-class precision,
recall and F1 (scikit-learn's definitions), and the table a run prints at its end.

Inputs are NumPy arrays or Tensors: `target` (N,) integer labels, `output` either (N, C) scores
(logits or probabilities) or (N,) predicted labels.
"""
from __future__ import annotations

import numpy as np


def _labels(name, target):
    target = np.asarray(target)
    if target.ndim != 1 or not np.issubdtype(target.dtype, np.integer):
        raise ValueError(f"{name}: target must be (N,) integer labels, got {target.dtype} of shape {target.shape}")
    return target


def _predictions(name, output, n):
    output = np.asarray(output)
    if output.ndim == 2:
        output = output.argmax(axis=1)
    if output.shape != (n,):
        raise ValueError(f"{name}: expected (N, C) scores or (N,) labels for N={n}, got shape {output.shape}")
    return output


def accuracy(output, target) -> float:
    """Fraction of samples whose predicted class (argmax of the scores) is the target."""
    target = _labels("accuracy", target)
    return float(np.mean(_predictions("accuracy", output, len(target)) == target)) if len(target) else 0.0


def topk_correct(output, target, k: int) -> np.ndarray:
    """(N,) booleans: the target is among the k highest scores (ties broken by index)."""
    scores, target = np.asarray(output), _labels("topk", target)
    if scores.ndim != 2 or len(scores) != len(target):
        raise ValueError(f"topk: expected (N, C) scores for N={len(target)}, got shape {scores.shape}")
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"topk: k must be in [1, {scores.shape[1]}] (the number of classes), got {k}")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return (top == target[:, None]).any(axis=1)


def top_k_error(output, target, k: int = 5) -> float:
    """ILSVRC's top-k error: fraction of samples whose target is not among the k highest scores."""
    correct = topk_correct(output, target, k)
    return float(1.0 - correct.mean()) if len(correct) else 0.0


def confusion_matrix(output, target, num_classes: int | None = None) -> np.ndarray:
    """(C, C) int64 counts, rows the true class and columns the predicted one (scikit-learn's order)."""
    target = _labels("confusion_matrix", target)
    predicted = _predictions("confusion_matrix", output, len(target))
    if num_classes is None:
        num_classes = int(max(target.max(initial=-1), predicted.max(initial=-1))) + 1
    return np.bincount(num_classes * target + predicted, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def _divide(a, b):
    """a / b with 0 where b == 0 (scikit-learn's zero_division=0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def precision_recall_f1(confusion) -> dict:
    """Per class c: precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2PR / (P + R),
    support = number of true samples; with their "macro" (plain mean over classes) and
    "weighted" (mean weighted by support) averages. A zero denominator gives 0."""
    confusion = np.asarray(confusion)
    tp = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    precision = _divide(tp, confusion.sum(axis=0))
    recall = _divide(tp, support)
    f1 = _divide(2 * precision * recall, precision + recall)
    per_class = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    weights = support / support.sum() if support.sum() else np.zeros_like(precision)
    return {**per_class,
            "macro": {k: float(per_class[k].mean()) for k in ("precision", "recall", "f1")},
            "weighted": {k: float((per_class[k] * weights).sum()) for k in ("precision", "recall", "f1")}}


def classification_report(output, target, num_classes: int | None = None, class_names=None) -> str:
    """The table printed at the end of a run: accuracy, top-5 error (with >= 5 classes), each
    class's precision, recall, F1 and support, the macro and weighted averages, then the confusion matrix."""
    target = _labels("classification_report", target)
    scores = np.asarray(output)
    if num_classes is None:
        num_classes = scores.shape[1] if scores.ndim == 2 else None
    confusion = confusion_matrix(scores, target, num_classes)
    num_classes = len(confusion)
    names = [str(n) for n in class_names] if class_names is not None else [str(c) for c in range(num_classes)]
    stats = precision_recall_f1(confusion)
    lines = [f"accuracy     {100 * accuracy(scores, target):6.2f}%  ({int(np.trace(confusion))}/{len(target)})"]
    if scores.ndim == 2 and scores.shape[1] >= 5:
        lines.append(f"top-5 error  {100 * top_k_error(scores, target, 5):6.2f}%")
    width = max(12, *(len(n) for n in names))
    lines += ["", f"{'class':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    for c, name in enumerate(names):
        lines.append(f"{name:<{width}} {stats['precision'][c]:9.4f} {stats['recall'][c]:9.4f} "
                     f"{stats['f1'][c]:9.4f} {stats['support'][c]:8d}")
    for average in ("macro", "weighted"):
        a = stats[average]
        lines.append(f"{average + ' avg':<{width}} {a['precision']:9.4f} {a['recall']:9.4f} {a['f1']:9.4f} "
                     f"{len(target):8d}")
    cell = max(4, len(str(confusion.max(initial=0))) + 1)
    lines += ["", "confusion matrix (rows: true class, columns: predicted)",
              " " * width + "".join(f"{c:>{cell}}" for c in range(num_classes))]
    lines += [f"{name:<{width}}" + "".join(f"{v:>{cell}}" for v in row) for name, row in zip(names, confusion)]
    return "\n".join(lines)

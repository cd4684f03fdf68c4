"""A plain training loop: epochs of mini-batch steps, then accuracy on held-out data."""
from __future__ import annotations

import time

import numpy as np

from . import functional as F
from .tensor import Tensor, no_grad


def train_epoch(model, optimizer, loader, loss_fn=F.cross_entropy) -> float:
    """One pass over `loader`, one optimizer step per batch; returns the mean training loss."""
    model.train()
    total, count = 0.0, 0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(Tensor(inputs)), targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(inputs)
        count += len(inputs)
    return total / max(count, 1)


def evaluate(model, inputs, targets, batch_size: int = 256) -> float:
    """Classification accuracy of `model` (in eval mode) on (inputs, targets)."""
    model.eval()
    correct = 0
    with no_grad():
        for start in range(0, len(inputs), batch_size):
            logits = model(Tensor(inputs[start:start + batch_size])).array
            correct += int((logits.argmax(axis=1) == targets[start:start + batch_size]).sum())
    return correct / max(len(inputs), 1)


def fit(model, optimizer, loader, test_data=None, epochs: int = 10, loss_fn=F.cross_entropy,
        log=print) -> list:
    """Train for `epochs`, logging one line per epoch; returns a list of per-epoch dicts."""
    history = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        loss = train_epoch(model, optimizer, loader, loss_fn)
        record = {"epoch": epoch, "loss": loss, "seconds": time.perf_counter() - start}
        line = f"epoch {epoch:3d}  loss {loss:.4f}"
        if test_data is not None:
            record["test_accuracy"] = evaluate(model, *test_data)
            line += f"  test accuracy {100 * record['test_accuracy']:.2f}%"
        if log is not None:
            log(line + f"  ({record['seconds']:.1f}s)")
        history.append(record)
    return history


def predict(model, inputs, batch_size: int = 256) -> np.ndarray:
    """Predicted class indices for `inputs`."""
    model.eval()
    with no_grad():
        return np.concatenate([model(Tensor(inputs[s:s + batch_size])).array.argmax(axis=1)
                               for s in range(0, len(inputs), batch_size)])

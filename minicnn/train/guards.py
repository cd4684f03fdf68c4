"""Checks the training loop makes so that a mistake stops the run with a message that says what
went wrong and where, instead of a NumPy error from deep inside a layer or a silently wrong run."""
from __future__ import annotations

import contextlib
import math
import signal

import numpy as np


@contextlib.contextmanager
def layer_names_in_errors(model):
    """Yield a function that calls `model`; an error raised inside one of its modules is re-raised,
    same type, with the qualified name of the innermost module that was running before its message:

        ValueError: in body.layer1.0.conv1 (Conv2d): conv2d: input has 1 channels but weight expects 3

    Forward pre-hooks push each module's name on a stack and forward hooks pop it, so when an
    error escapes, the top of the stack is the module that refused. The hooks go when the block ends.
    """
    running, handles = [], []

    def enter(label):
        return lambda module, args: running.append(label)

    def leave(module, args, output):
        running.pop()

    for name, module in model.named_modules():
        label = f"{name} ({type(module).__name__})" if name else f"the model ({type(module).__name__})"
        handles.append(module.register_forward_pre_hook(enter(label)))
        handles.append(module.register_forward_hook(leave))

    def forward(*args):
        running.clear()
        try:
            return model(*args)
        except (ValueError, TypeError, IndexError) as error:
            if not running:
                raise
            message = f"in {running[-1]}: {error.args[0] if error.args else error}"
            try:
                renamed = type(error)(message, *error.args[1:])
            except Exception:  # an exception type with a constructor of its own: keep it, add the layer
                error.add_note(message)
                raise error
            raise renamed from error

    try:
        yield forward
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def deferred_interrupt():
    """Within the block, Ctrl-C (SIGINT) sets `.requested` instead of raising, so the loop can
    finish the step it is in and stop where a checkpoint is consistent; a second Ctrl-C raises
    KeyboardInterrupt at once. Outside the main thread (no signal handlers) Ctrl-C raises as usual."""
    class Flag:
        requested = False

    flag = Flag()

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield flag
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def check_labels(targets: np.ndarray, num_classes: int, where: str) -> None:
    """Class labels must be integers in [0, num_classes)."""
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"fit: labels must be integers, got {targets.dtype} ({where})")
    bad = targets[(targets < 0) | (targets >= num_classes)]
    if bad.size:
        raise ValueError(f"fit: label {int(bad[0])} is out of range for a model with num_classes="
                         f"{num_classes} (labels must be in [0, {num_classes - 1}]; {where})")


def check_finite_loss(loss: float, where: str, last_good: str) -> None:
    """A NaN or infinite loss stops the run before the step that would spread it into the weights."""
    if not math.isfinite(loss):
        raise FloatingPointError(f"fit: the loss is {loss} at {where}; the run stopped before updating "
                                 f"the weights. {last_good}")


def check_not_empty(loader, name: str) -> None:
    dataset = getattr(loader, "dataset", None)
    size = len(dataset) if dataset is not None else None
    if size == 0 or len(loader) == 0:
        raise ValueError(f"fit: the {name} set is empty" + (f" ({len(loader)} batches from {size} samples; "
                         "is drop_last dropping the only batch?)" if size else ""))

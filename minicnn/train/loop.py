"""fit(): epochs of mini-batch steps with validation, schedules, progress, checkpoints and resume."""
from __future__ import annotations

import json
import os
import pathlib
import sys
import time

import numpy as np
from tqdm import tqdm

from .. import functional as F
from ..nn.utils import clip_grad_norm_
from ..optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau
from ..tensor import Tensor, no_grad
from . import checkpoint
from .guards import check_finite_loss, check_labels, check_not_empty, deferred_interrupt, layer_names_in_errors


def batch_arrays(batch):
    """(inputs Tensor, targets int array) from a loader's batch of Tensors or arrays."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"fit: a batch must be an (inputs, targets) pair, got {type(batch).__name__}")
    inputs, targets = batch
    inputs = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
    return inputs, np.asarray(targets)


def classification_loss(output, targets, loss_fn, aux_weight):
    """loss_fn on the logits; with auxiliary classifiers (a tuple (logits, aux1, ...), GoogLeNet
    in training mode) the total is loss(logits) + aux_weight * sum(loss(aux_i)) (Szegedy et al. 2015)."""
    if not isinstance(output, tuple):
        return loss_fn(output, targets)
    main, *aux = output
    loss = loss_fn(main, targets)
    for logits in aux:
        loss = loss + aux_weight * loss_fn(logits, targets)
    return loss


def evaluate(model, loader, loss_fn=F.cross_entropy, forward=None) -> dict:
    """Mean loss and accuracy of `model` in eval mode over `loader`, without recording a graph."""
    scores, targets = predict(model, loader, forward)
    loss = loss_fn(Tensor(scores), targets).item() if len(targets) else float("nan")
    accuracy = float(np.mean(scores.argmax(axis=1) == targets)) if len(targets) else float("nan")
    return {"loss": loss, "accuracy": accuracy}


def predict(model, loader, forward=None):
    """(scores (N, C), targets (N,)) of `model` in eval mode over every batch of `loader`."""
    forward = forward or model
    model.eval()
    scores, targets = [], []
    with no_grad():
        for batch in loader:
            inputs, labels = batch_arrays(batch)
            scores.append(np.asarray(forward(inputs).array))
            targets.append(labels)
    if not scores:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    return np.concatenate(scores), np.concatenate(targets)


def _samples(loader):
    dataset = getattr(loader, "dataset", None)
    return len(dataset) if dataset is not None else None


def fit(model, train_loader, val_loader, optimizer, epochs: int, scheduler=None, *, loss_fn=None,
        label_smoothing: float = 0.0, aux_weight: float = 0.3, clip_grad_norm: float | None = None,
        out=None, resume: bool = False, progress: bool = True, config: dict | None = None, log=print) -> list:
    """Train `model` for `epochs` epochs; returns the per-epoch records (also in out/metrics.jsonl).

    train_loader / val_loader: iterables of (inputs, targets) batches (a DataLoader; val_loader may
    be None). loss_fn(logits, targets) defaults to cross-entropy with `label_smoothing`; models
    with auxiliary classifiers add aux_weight times theirs in training. clip_grad_norm: clip the
    gradients' joint L2 norm before each step. scheduler: stepped once per batch if it is a
    OneCycleLR, else once per epoch (ReduceLROnPlateau with the validation loss, or the training
    loss without validation data).

    out: the run folder, holding last.npz (after every epoch), best.npz (the best validation
    accuracy so far), metrics.jsonl (one JSON record per epoch: epoch, lr, train_loss,
    train_accuracy, val_loss, val_accuracy, seconds) and `config` (stored in each checkpoint,
    e.g. the architecture to rebuild). resume=True continues from out/last.npz exactly where it
    stopped, epoch and step, with every random generator restored (see train.checkpoint).

    Stops with a clear error on an empty dataset, a label outside [0, num_classes), an input
    a layer refuses (naming the layer), or a NaN/infinite loss (naming the step; the last
    checkpoint is the last good one). Ctrl-C finishes the current step, saves a resumable
    checkpoint and raises KeyboardInterrupt.
    """
    log = log or (lambda message: None)
    if loss_fn is None:
        def loss_fn(logits, targets):
            return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"fit: epochs must be a positive int, got {epochs!r}")
    check_not_empty(train_loader, "training")
    if val_loader is not None:
        check_not_empty(val_loader, "validation")
    folder = pathlib.Path(out) if out is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    last_path = folder / "last.npz" if folder is not None else None
    generators = checkpoint.run_generators(model, train_loader)
    loader_generator = getattr(train_loader, "generator", None)
    if not isinstance(loader_generator, np.random.Generator):
        loader_generator = None
    per_batch = isinstance(scheduler, OneCycleLR)

    run = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "history": [], "best": None,
           "rng": None, "loader_epoch_start": None}
    if resume:
        if last_path is None or not last_path.exists():
            raise FileNotFoundError(f"fit: resume=True but there is no checkpoint {last_path} to resume from")
        saved = checkpoint.read(last_path)
        checkpoint.load_model_state(model, saved["model"], last_path)
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None:
            if saved["scheduler"] is None:
                raise ValueError(f"fit: {last_path} was saved without a scheduler, but one was given")
            scheduler.load_state_dict(saved["scheduler"])
        run.update({k: saved[k] for k in run})
        log(f"resuming from {last_path}: epoch {run['epoch'] + 1}, step {run['step_in_epoch']}")

    def snapshot():
        return {**run, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "rng": checkpoint.generator_states(generators), "config": config or {}}

    def write_metrics():
        text = "".join(json.dumps(record) + "\n" for record in run["history"])
        temporary = folder / ".metrics.jsonl.tmp"
        temporary.write_text(text)
        os.replace(temporary, folder / "metrics.jsonl")

    steps_per_epoch = len(train_loader)
    with layer_names_in_errors(model) as forward, deferred_interrupt() as interrupt:
        for epoch in range(run["epoch"], epochs):
            # Where this epoch starts: fresh, at a saved epoch boundary, or part-way (after Ctrl-C).
            if run["rng"] is not None and run["step_in_epoch"] and loader_generator is not None:
                loader_generator.bit_generator.state = run["loader_epoch_start"]
            elif run["rng"] is not None:
                checkpoint.restore_generators(generators, run["rng"])
            if loader_generator is not None and not run["step_in_epoch"]:
                run["loader_epoch_start"] = loader_generator.bit_generator.state
            batches = iter(train_loader)
            for _ in range(run["step_in_epoch"]):  # replay the order; the generators are then restored
                next(batches)
            if run["rng"] is not None:
                checkpoint.restore_generators(generators, run["rng"])
                run["rng"] = None
            first_step, start = run["step_in_epoch"], time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            loss_sum, correct, seen, labelled = 0.0, 0, 0, 0  # labelled: targets (pixels, for segmentation)
            model.train()
            bar = tqdm(total=_samples(train_loader), unit="img", desc=f"epoch {epoch + 1}/{epochs}",
                       disable=None if progress else True, leave=False, file=sys.stdout)
            for step in range(first_step, steps_per_epoch):
                where = f"epoch {epoch + 1}, step {step + 1} of {steps_per_epoch}"
                inputs, targets = batch_arrays(next(batches))
                output = forward(inputs)
                logits = output[0] if isinstance(output, tuple) else output
                check_labels(targets, logits.shape[1], where)
                loss = classification_loss(output, targets, loss_fn, aux_weight)
                last_good = f"The last good checkpoint is {last_path}." if last_path and last_path.exists() else ""
                check_finite_loss(loss.item(), where, last_good)
                optimizer.zero_grad()
                loss.backward()
                if clip_grad_norm is not None:
                    clip_grad_norm_(model.parameters(), clip_grad_norm)
                optimizer.step()
                if per_batch:
                    scheduler.step()
                run["global_step"] += 1
                run["step_in_epoch"] = step + 1
                loss_sum += loss.item() * len(targets)
                correct += int((logits.array.argmax(axis=1) == targets).sum())
                seen += len(targets)
                labelled += targets.size
                bar.update(len(targets))
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{100 * correct / labelled:.2f}%", refresh=False)
                if interrupt.requested and step + 1 < steps_per_epoch:
                    bar.close()
                    message = f"interrupted at {where}"
                    if last_path is not None:
                        checkpoint.write(last_path, snapshot())
                        message += f"; saved a resumable checkpoint {last_path}: run again with resume=True"
                    log(message)
                    raise KeyboardInterrupt(message)
            bar.close()

            record = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum / max(seen, 1),
                      "train_accuracy": correct / max(labelled, 1), "val_loss": None, "val_accuracy": None}
            if first_step:
                record["resumed_at_step"] = first_step  # the train figures cover the steps after it
            if val_loader is not None:
                result = evaluate(model, val_loader, loss_fn, forward)
                record["val_loss"], record["val_accuracy"] = result["loss"], result["accuracy"]
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(record["val_loss"] if val_loader is not None else record["train_loss"])
            elif scheduler is not None and not per_batch:
                scheduler.step()
            record["seconds"] = time.perf_counter() - start
            score = record["val_accuracy"] if val_loader is not None else -record["train_loss"]
            improved = run["best"] is None or score > run["best"]
            if improved:
                run["best"] = score
            run["history"].append(record)
            run["epoch"], run["step_in_epoch"] = epoch + 1, 0
            if folder is not None:
                state = snapshot()
                if improved:
                    checkpoint.write(folder / "best.npz", state)
                checkpoint.write(last_path, state)
                write_metrics()
            log(summary_line(record, epochs) + ("  *best" if improved and val_loader is not None else ""))
            if interrupt.requested:
                message = f"interrupted after epoch {epoch + 1}"
                if last_path is not None:
                    message += f"; {last_path} is resumable: run again with resume=True"
                log(message)
                raise KeyboardInterrupt(message)
    return run["history"]


def summary_line(record: dict, epochs: int) -> str:
    line = (f"epoch {record['epoch']:3d}/{epochs}  lr {record['lr']:.3g}  train loss {record['train_loss']:.4f} "
            f"acc {100 * record['train_accuracy']:6.2f}%")
    if record["val_loss"] is not None:
        line += f"  val loss {record['val_loss']:.4f} acc {100 * record['val_accuracy']:6.2f}%"
    return line + f"  ({record['seconds']:.1f}s)"

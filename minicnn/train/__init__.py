"""minicnn.train: the training loop and what goes with it.

    from minicnn import architectures, data, optim
    from minicnn.optim import lr_scheduler
    from minicnn.train import fit

    model = architectures.build("resnet_cifar", depth=20, num_classes=10)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=30)
    history = fit(model, train_loader, val_loader, optimizer, epochs=30, scheduler=scheduler, out="runs/r20")
    # later, after Ctrl-C or to extend the run: the same call with resume=True

- fit, evaluate, predict (loop.py): epochs, validation, progress bar, checkpoints, resume.
- checkpoint.py: what a checkpoint holds (model, optimiser, scheduler, epoch, every RNG state).
- guards.py: the checks that name what went wrong (labels, layer, NaN, empty data, Ctrl-C).
- replace_head (transfer.py): a new classifier head for transfer learning.
"""
from .checkpoint import read as read_checkpoint
from .guards import layer_names_in_errors
from .loop import classification_loss, evaluate, fit, predict, summary_line
from .transfer import replace_head

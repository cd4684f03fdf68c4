"""Transfer learning as the notes describe it: keep a trained body, put a new head on it for the
new classes, and train the body with a smaller learning rate (or not at all)."""
from __future__ import annotations

from .. import nn


def replace_head(model, num_classes: int, generator=None):
    """Give a zoo model (a Classifier: model.body -> model.head) a new, freshly initialised
    linear head for `num_classes` classes, and the same for its auxiliary classifiers if it has
    any; returns the model. The body's weights are kept.

        model = architectures.build("resnet18", num_classes=1000)
        ...load the trained weights...
        replace_head(model, 10)
        optimizer = optim.SGD([{"params": model.body.parameters(), "lr": 1e-4},
                               {"params": model.head.parameters()}], lr=1e-2, momentum=0.9)
        # or freeze the body: model.body.requires_grad_(False) and optimise model.head.parameters()
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"replace_head: num_classes must be a positive int, got {num_classes!r}")
    if not isinstance(getattr(model, "head", None), nn.Module):
        raise TypeError(f"replace_head: expected a model with a .head module (a zoo Classifier), "
                        f"got {type(model).__name__}")
    model.head = _new_last_linear(model.head, num_classes, generator, "head")
    aux_heads = getattr(model, "aux_heads", None)
    if aux_heads is not None:
        for index, head in enumerate(list(aux_heads)):
            aux_heads.add_module(str(index), _new_last_linear(head, num_classes, generator, f"aux_heads.{index}"))
    return model


def _new_last_linear(head, num_classes, generator, where):
    """head itself if it is a Linear, else head with its last Linear replaced."""
    def fresh(linear):
        return nn.Linear(linear.in_features, num_classes, bias=linear.bias is not None,
                         generator=generator, dtype=linear.weight.dtype)

    if isinstance(head, nn.Linear):
        return fresh(head)
    parents = [(name, module) for name, module in head.named_modules()
               if any(isinstance(child, nn.Linear) for child in module.children())]
    if not parents:
        raise TypeError(f"replace_head: {where} has no Linear layer to replace")
    _, parent = parents[-1]
    name = [n for n, child in parent.named_children() if isinstance(child, nn.Linear)][-1]
    parent.add_module(name, fresh(getattr(parent, name)))
    return head

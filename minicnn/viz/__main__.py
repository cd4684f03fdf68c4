"""python -m minicnn viz KIND ... --out FIG.png: figures of a trained run (see minicnn.viz).

    python -m minicnn viz filters    --checkpoint RUN/best.npz --out filters.png
    python -m minicnn viz features   --checkpoint RUN/best.npz --layer body.conv2 --index 0 --out maps.png
    python -m minicnn viz deconv     --checkpoint RUN/best.npz --layer body.conv2 --top 9 --out deconv.png
    python -m minicnn viz saliency   --checkpoint RUN/best.npz --index 3 --out saliency.png
    python -m minicnn viz curves     --run RUN --out curves.png
    python -m minicnn viz confusion  --checkpoint RUN/best.npz --out confusion.png
    python -m minicnn viz bench      --json bench.json --out bench.png
    python -m minicnn viz segmentation --checkpoint RUN/best.npz --index 0 --count 4 --out seg.png

The checkpoint is one written by `python -m minicnn train` (it records the model and the
dataset); --index picks the test image. --layer defaults to the first convolution for features,
the last for deconv.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

from .. import nn

KINDS = ("filters", "features", "deconv", "saliency", "curves", "confusion", "bench", "segmentation")


def load_run(checkpoint, num_test=None):
    """(model with the checkpoint's weights, test dataset, class names) of a run's checkpoint."""
    from ..commands import CommandError, build_model, class_names, open_datasets
    from ..train import read_checkpoint
    from ..train.checkpoint import load_model_state

    state = read_checkpoint(checkpoint)
    config = state.get("config") or {}
    if "arch" not in config:
        raise CommandError(f"{checkpoint} does not record its architecture (not saved by `python -m minicnn train`)")
    num_test = num_test if num_test is not None else config.get("num_test")
    _, test_set = open_datasets(config["dataset"], config["image_size"], 1, num_test, config.get("seed", 0),
                                config.get("gray_to_rgb", False))
    model = build_model(config["arch"], config["options"], config.get("seed", 0))
    load_model_state(model, state["model"], checkpoint)
    return model.eval(), test_set, class_names(test_set) or None


def conv_names(model) -> list:
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no Conv2d layer")
    return names


def figure_for(args):
    from .. import viz

    if args.kind == "curves":
        run = args.run or (pathlib.Path(args.checkpoint).parent if args.checkpoint else None)
        if run is None:
            raise ValueError("curves needs --run FOLDER (or --checkpoint inside it)")
        return viz.plot_curves(run)
    if args.kind == "bench":
        if not args.json:
            raise ValueError("bench needs --json FILE (from python -m minicnn.bench --json FILE)")
        return viz.plot_bench(args.json)
    if not args.checkpoint:
        raise ValueError(f"{args.kind} needs --checkpoint RUN/best.npz")
    model, test_set, classes = load_run(args.checkpoint, args.num_test)
    if args.kind == "filters":
        return viz.plot_filters(model)
    if args.kind == "confusion":
        from ..data import DataLoader
        from ..metrics import confusion_matrix
        from ..train import predict

        scores, targets = predict(model, DataLoader(test_set, 256))
        k = scores.shape[1]
        return viz.plot_confusion(confusion_matrix(scores, targets, k), classes,
                                  title=f"Confusion matrix of {pathlib.Path(args.checkpoint).name}")
    if not 0 <= args.index < len(test_set):
        raise ValueError(f"--index {args.index} is outside the {len(test_set)} test images")
    if args.kind == "segmentation":
        return segmentation_figure(model, test_set, classes, args.index, args.count)
    image = test_set[args.index][0]
    image = image.array if hasattr(image, "array") else image
    if args.kind == "features":
        return viz.plot_feature_maps(model, args.layer or conv_names(model)[0], image)
    if args.kind == "deconv":
        return viz.plot_deconvnet(model, args.layer or conv_names(model)[-1], image, top=args.top, classes=classes)
    return viz.plot_saliency(model, image, classes=classes)


def segmentation_figure(model, test_set, classes, index, count):
    """Test images index .. index + count - 1 of a shapes-seg run, their true and predicted masks."""
    from .. import viz

    if getattr(test_set, "masks", None) is None or not getattr(test_set, "segmentation", False):
        raise ValueError("segmentation needs a run trained on per-pixel masks (--dataset shapes-seg)")
    if count < 1:
        raise ValueError(f"--count must be positive, got {count}")
    chosen = slice(index, min(index + count, len(test_set)))
    images, masks = test_set.images[chosen], test_set.masks[chosen]
    names = ["background", *classes] if classes else None
    return viz.plot_segmentation(images, masks, viz.predict_masks(model, images), names)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minicnn viz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--out", required=True, help="the figure file to write (.png, .pdf, .svg)")
    parser.add_argument("--checkpoint", help="a checkpoint written by python -m minicnn train")
    parser.add_argument("--run", help="a run folder holding metrics.jsonl (curves)")
    parser.add_argument("--json", help="python -m minicnn.bench --json output (bench)")
    parser.add_argument("--layer", help="dotted layer name (features: default the first Conv2d; deconv: the last)")
    parser.add_argument("--index", type=int, default=0, help="which test image (features, deconv, saliency)")
    parser.add_argument("--top", type=int, default=1, help="activations projected by deconv")
    parser.add_argument("--count", type=int, default=4, help="images from --index on (segmentation)")
    parser.add_argument("--num-test", type=int, help="use only the first N test images")
    args = parser.parse_args(argv)
    from ..commands import CommandError
    from .figure import save

    try:
        fig = figure_for(args)
    except (CommandError, ImportError, OSError, ValueError, KeyError) as error:
        print(f"python -m minicnn viz {args.kind}: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {save(fig, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""minicnn.viz: looking inside a network (matplotlib: the optional `plot` extra).

Arrays first, figures second: each view has a function returning NumPy arrays (testable, usable
with any plotting library) and a plot_* function returning a matplotlib Figure.

    filters     plot_filters(model)                               first-layer filters as images
    features    feature_maps(model, name, image)                  any named layer's output maps
    deconvnet   deconvnet(model, name, image, top=1)              Zeiler & Fergus's projection
    saliency    saliency(model, image, target=None)               Simonyan et al.'s gradient map
    curves      plot_curves(run_folder)                           loss, accuracy, learning rate
    confusion   plot_confusion(matrix, classes)                   heat-map of a confusion matrix
    gradients   gradient_norms(model, x, y), plot_gradient_norms  per-layer backward-hook norms
    bench       plot_bench(json_file)                             python -m minicnn.bench --json charts
    segmentation plot_segmentation(images, true, predicted)       image, true mask, predicted mask

From the shell: python -m minicnn viz filters|features|deconv|saliency|curves|confusion|bench|segmentation ...
"""
from .bench import plot_bench, read_bench
from .confusion import plot_confusion
from .curves import plot_curves, read_metrics
from .deconvnet import deconvnet
from .features import feature_maps, plot_feature_maps
from .figure import figure, save
from .filters import filter_images, first_conv, plot_filters
from .gradients import gradient_norms, plot_gradient_norms
from .saliency import plot_deconvnet, plot_saliency, predicted_class, saliency
from .segmentation import colour_masks, plot_segmentation, predict_masks

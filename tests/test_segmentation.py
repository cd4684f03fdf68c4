"""Segmentation metrics against counts done by hand, and the exclusion rule of mean IoU."""
import numpy as np
import pytest

from minicnn import Tensor
from minicnn.metrics_segmentation import (iou_per_class, mean_iou, pixel_accuracy,
                                          segmentation_confusion)

# One 2x3 image. Class 0: predicted at (0,0) (0,1), true at (0,0) (1,2): 1 shared pixel of 3 -> 1/3.
# Class 1: predicted (0,2) (1,0), true (0,1) (0,2) (1,0): 2 of 3 -> 2/3. Class 2: predicted (1,1)
# (1,2), true (1,1): 1 of 2 -> 1/2. Mean IoU 1/2; 4 of the 6 pixels agree.
PREDICTED = np.array([[[0, 0, 1], [1, 2, 2]]])
TRUE = np.array([[[0, 1, 1], [1, 2, 0]]])


def one_hot_scores(labels, num_classes):
    """(N, K, H, W) scores whose argmax over axis 1 is `labels`."""
    return np.moveaxis(np.eye(num_classes)[labels], -1, 1) + 0.1


def test_hand_computed_case():
    assert pixel_accuracy(PREDICTED, TRUE) == pytest.approx(4 / 6)
    np.testing.assert_allclose(iou_per_class(segmentation_confusion(PREDICTED, TRUE, 3)), [1 / 3, 2 / 3, 1 / 2])
    assert mean_iou(PREDICTED, TRUE, 3) == pytest.approx(0.5)


def test_confusion_rows_are_true_columns_predicted():
    confusion = segmentation_confusion(PREDICTED, TRUE, 3)
    np.testing.assert_array_equal(confusion, [[1, 0, 1], [1, 2, 0], [0, 0, 1]])


def test_scores_and_tensors_give_the_same_numbers():
    scores = one_hot_scores(PREDICTED, 3)
    assert mean_iou(Tensor(scores), Tensor(TRUE), 3) == pytest.approx(0.5)
    assert pixel_accuracy(scores, TRUE) == pytest.approx(4 / 6)


def test_classes_absent_from_both_are_left_out_of_the_mean():
    # classes 3 and 4 appear nowhere: the mean stays over classes 0..2
    assert mean_iou(PREDICTED, TRUE, 5) == pytest.approx(0.5)
    assert np.isnan(iou_per_class(segmentation_confusion(PREDICTED, TRUE, 5))[3:]).all()


def test_a_class_predicted_but_absent_counts_as_zero():
    predicted = PREDICTED.copy()
    predicted[0, 1, 2] = 3  # was a wrong 2 on a true 0: class 2 now 1/1, class 0 still 1/3, class 3 is 0/1
    assert mean_iou(predicted, TRUE, 4) == pytest.approx((1 / 3 + 2 / 3 + 1 + 0) / 4)


def test_ignore_index_drops_pixels_everywhere():
    true = TRUE.copy()
    true[0, 1, 2] = 255  # the pixel predicted 2, truly 0: class 0 becomes 1/2, class 2 becomes 1/1
    assert pixel_accuracy(PREDICTED, true, ignore_index=255) == pytest.approx(4 / 5)
    assert mean_iou(PREDICTED, true, 3, ignore_index=255) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)


def test_counts_are_summed_over_the_set_before_dividing():
    # two images: a perfect small class-1 region and a fully missed large one
    true = np.array([[[1, 0]], [[1, 1]]])
    predicted = np.array([[[1, 0]], [[0, 0]]])
    # class 1: TP 1, union 3 -> 1/3 (not the mean of the per-image 1 and 0); class 0: TP 1, union 3
    assert mean_iou(predicted, true, 2) == pytest.approx(1 / 3)


def test_perfect_and_empty():
    assert mean_iou(TRUE, TRUE, 3) == 1.0 and pixel_accuracy(TRUE, TRUE) == 1.0
    empty = np.zeros((0, 4, 4), np.int64)
    assert np.isnan(mean_iou(empty, empty, 3)) and np.isnan(pixel_accuracy(empty, empty))


@pytest.mark.parametrize("call, message", [
    (lambda: mean_iou(np.zeros((1, 3, 4, 4)), np.zeros((1, 5, 5), np.int64), 3), "do not match"),
    (lambda: mean_iou(np.zeros((1, 4, 5)), np.zeros((1, 4, 4), np.int64), 3), "expected \\(N, K, \\*\\)"),
    (lambda: mean_iou(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), 3), "integer classes"),
    (lambda: mean_iou(np.zeros((1, 4, 4)), np.zeros((1, 4, 4), np.int64), 3), "must be integers"),
    (lambda: mean_iou(np.full((1, 2, 2), 3), np.zeros((1, 2, 2), np.int64), 3), "prediction classes must lie"),
    (lambda: mean_iou(np.zeros((1, 2, 2), np.int64), np.full((1, 2, 2), -1), 3), "target classes must lie"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_mask_colours():
    from minicnn.viz import colour_masks
    from minicnn.viz.segmentation import PALETTE

    rgb = colour_masks(np.array([[[0, 1, 10, 11]]]))
    np.testing.assert_array_equal(rgb[0, 0], [PALETTE[0], PALETTE[1], PALETTE[10], PALETTE[1]])
    assert (rgb[0, 0, 0] == 0).all()  # background black
    with pytest.raises(ValueError, match="non-negative integer classes"):
        colour_masks(np.zeros((2, 2)))


def test_train_eval_and_viz_commands_on_shapes_masks(tmp_path, capsys):
    """python -m minicnn train --dataset shapes-seg, then eval and viz segmentation of its checkpoint."""
    pytest.importorskip("matplotlib")
    from minicnn.commands import run
    from minicnn.viz.__main__ import main as viz

    out = tmp_path / "run"
    assert run(["train", "--arch", "fcn", "--option", "variant='upsample'", "--option", "refine_steps=2",
                "--width", "0.125", "--dataset", "shapes-seg", "--image-size", "16", "--num-train", "32",
                "--num-test", "16", "--epochs", "1", "--optimizer", "adam", "--lr", "0.003", "--no-progress",
                "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mean IoU" in printed and "background" in printed and "crescent" in printed
    assert run(["eval", "--checkpoint", str(out / "best.npz")]) == 0
    assert "pixel accuracy" in capsys.readouterr().out
    figure = tmp_path / "seg.png"
    assert viz(["segmentation", "--checkpoint", str(out / "best.npz"), "--count", "2", "--out", str(figure)]) == 0
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a classification run has no masks to show
    assert run(["train", "--arch", "cnn1d", "--dataset", "signals", "--image-size", "64", "--num-train", "32",
                "--num-test", "16", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "sig")]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert viz(["segmentation", "--checkpoint", str(tmp_path / "sig" / "best.npz"), "--out", str(figure)]) == 2
    assert "per-pixel masks" in capsys.readouterr().err

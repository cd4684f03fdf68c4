"""Metrics against small cases worked by hand (scikit-learn's definitions, zero division -> 0)."""
import numpy as np
import pytest

from minicnn import metrics

TARGET = np.array([0, 0, 0, 1, 1, 2])
PREDICTED = np.array([0, 1, 0, 1, 1, 1])
# confusion (rows true, columns predicted): [[2, 1, 0], [0, 2, 0], [0, 1, 0]]
# precision: 2/2, 2/4, 0 (no prediction of 2: zero division -> 0); recall: 2/3, 2/2, 0/1
# f1: 2*1*(2/3)/(5/3) = 0.8, 2*0.5*1/1.5 = 2/3, 0


def test_accuracy_from_labels_and_scores():
    assert metrics.accuracy(PREDICTED, TARGET) == pytest.approx(4 / 6)
    scores = np.eye(3)[PREDICTED] * 0.9
    assert metrics.accuracy(scores, TARGET) == pytest.approx(4 / 6)


def test_confusion_matrix():
    np.testing.assert_array_equal(metrics.confusion_matrix(PREDICTED, TARGET), [[2, 1, 0], [0, 2, 0], [0, 1, 0]])
    assert metrics.confusion_matrix(PREDICTED, TARGET, num_classes=4).shape == (4, 4)


def test_precision_recall_f1_and_averages():
    stats = metrics.precision_recall_f1(metrics.confusion_matrix(PREDICTED, TARGET))
    np.testing.assert_allclose(stats["precision"], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(stats["recall"], [2 / 3, 1.0, 0.0])
    np.testing.assert_allclose(stats["f1"], [0.8, 2 / 3, 0.0])
    assert stats["macro"]["f1"] == pytest.approx((0.8 + 2 / 3) / 3)
    assert stats["weighted"]["precision"] == pytest.approx((3 * 1.0 + 2 * 0.5) / 6)
    assert stats["weighted"]["recall"] == pytest.approx(4 / 6)  # weighted recall is accuracy


def test_top_k_error():
    scores = np.array([[0.1, 0.5, 0.2, 0.15, 0.05, 0.0],    # target 4: rank 5
                       [0.3, 0.1, 0.2, 0.15, 0.05, 0.0],    # target 5: rank 6
                       [0.9, 0.02, 0.02, 0.02, 0.02, 0.02]])  # target 0: rank 1
    target = np.array([4, 5, 0])
    assert metrics.top_k_error(scores, target, k=5) == pytest.approx(1 / 3)
    assert metrics.top_k_error(scores, target, k=1) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="k must be in"):
        metrics.top_k_error(scores, target, k=7)


def test_report_has_every_part():
    scores = np.eye(5)[np.array([0, 1, 2, 3, 4, 0])]
    report = metrics.classification_report(scores, np.array([0, 1, 2, 3, 4, 1]), class_names="abcde")
    assert "accuracy      83.33%  (5/6)" in report and "top-5 error" in report
    assert "macro avg" in report and "weighted avg" in report and "confusion matrix" in report
    assert report.splitlines()[-4].split() == ["b", "1", "1", "0", "0", "0"]


def test_bad_target():
    with pytest.raises(ValueError, match="integer labels"):
        metrics.accuracy(PREDICTED, TARGET.astype(float))

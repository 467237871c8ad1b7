"""Multi-class AUC of Hand and Till (2001): the mean of pairwise one-vs-one AUCs.

Hand DJ, Till RJ. A simple generalisation of the area under the ROC curve for
multiple class classification problems. Machine Learning 2001;45:171-186.

For c classes and class-probability columns p_i:

    A(i|j) = AUC of p_i separating class i (positive) from class j, on cases of i and j only
    A(i, j) = (A(i|j) + A(j|i)) / 2
    M = 2 / (c (c - 1)) sum_{i<j} A(i, j)

Equals ``sklearn.metrics.roc_auc_score(multi_class="ovo", average="macro")``.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd

from breastlab.errors import BreastlabInputError
from breastlab.evaluate.stats._validate import as_1d, check_scores
from breastlab.evaluate.stats.roc import auc_oriented


@dataclasses.dataclass(frozen=True)
class MulticlassAUC:
    auc: float  # Hand & Till's M
    pairwise: pd.DataFrame  # class_i, class_j, auc_i_vs_j, auc_j_vs_i, auc_pair

    def __float__(self) -> float:
        return self.auc


def multiclass_auc(y_true, y_score, labels=None) -> MulticlassAUC:
    """Hand & Till (2001) M for labels ``y_true`` and scores ``y_score`` (n_cases, n_classes).

    Column j of ``y_score`` belongs to ``labels[j]`` (default: the sorted distinct labels).
    Every class needs at least one case.
    """
    y = as_1d(y_true, "y_true")
    classes = np.unique(y) if labels is None else np.asarray(labels)
    if classes.size < 2:
        raise BreastlabInputError(f"y_true holds {classes.size} class(es); multi-class AUC needs at least 2")
    s = check_scores(y_score, y.size, name="y_score", ndim=2)
    if s.ndim != 2 or s.shape[1] != classes.size:
        raise BreastlabInputError(
            f"y_score must have one column per class ({classes.size}: {classes.tolist()}), got shape {s.shape}"
        )
    missing = [c for c in classes.tolist() if not np.any(y == c)]
    extra = sorted(set(np.unique(y).tolist()) - set(classes.tolist()))
    if missing or extra:
        raise BreastlabInputError(f"y_true: classes without cases {missing}, labels not in `labels` {extra}")
    rows = []
    for i, j in itertools.combinations(range(classes.size), 2):
        keep = (y == classes[i]) | (y == classes[j])
        yi = y[keep] == classes[i]
        a_ij = float(auc_oriented(yi, s[keep, i])[0])
        a_ji = float(auc_oriented(~yi, s[keep, j])[0])
        rows.append((classes[i], classes[j], a_ij, a_ji, (a_ij + a_ji) / 2.0))
    pairs = pd.DataFrame(rows, columns=["class_i", "class_j", "auc_i_vs_j", "auc_j_vs_i", "auc_pair"])
    return MulticlassAUC(float(pairs["auc_pair"].mean()), pairs)

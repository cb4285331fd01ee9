"""Evaluate a fitted scikit-learn random forest without its per-tree Python loop.

scikit-learn predicts tree by tree from Python (a joblib call, a lock and an array per tree), which
for the one or few rows a live prediction scores costs far more than the trees themselves. Here
the trees are packed once into flat arrays and walked by one compiled kernel. The result is the
same as scikit-learn's to the bit: inputs are compared in float32 as the trees were grown, missing
values follow each split's learned direction, and tree outputs (classifier leaves: class
fractions) are summed in the forest's order before dividing by the tree count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class PackedForest:
    roots: np.ndarray        # (n_trees,) offset of each tree's root node
    left: np.ndarray         # (nodes,) global index of the left child, -1 at a leaf
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    nan_left: np.ndarray     # (nodes,) 1 when a missing value goes left at this split
    value: np.ndarray        # (nodes, outputs) leaf values (classifier: class fractions)
    n_features: int


def pack(forest, classifier: bool) -> PackedForest:
    if getattr(forest, "n_outputs_", 1) != 1:
        raise ValueError("only single-output forests are packed")
    roots, left, right, feat, thr, nanl, val = [], [], [], [], [], [], []
    off = 0
    for est in forest.estimators_:
        t = est.tree_
        n = t.node_count
        roots.append(off)
        lc, rc = t.children_left.astype("int64"), t.children_right.astype("int64")
        left.append(np.where(lc >= 0, lc + off, -1))
        right.append(np.where(rc >= 0, rc + off, -1))
        feat.append(t.feature.astype("int64"))
        thr.append(t.threshold.astype("float64"))
        mgl = getattr(t, "missing_go_to_left", None)
        nanl.append(np.asarray(mgl, dtype="uint8") if mgl is not None else np.zeros(n, dtype="uint8"))
        # classifier leaves hold class fractions already (scikit-learn >= 1.4), used as they are
        val.append(t.value[:, 0, :].astype("float64"))
        off += n
    return PackedForest(np.array(roots, dtype="int64"), np.concatenate(left), np.concatenate(right),
                        np.concatenate(feat), np.concatenate(thr), np.concatenate(nanl), np.concatenate(val),
                        int(forest.n_features_in_))


@numba.njit(cache=True)
def _eval(X, roots, left, right, feature, threshold, nan_left, value, out):
    n_trees = len(roots)
    for i in range(X.shape[0]):
        for t in range(n_trees):
            node = roots[t]
            while left[node] != -1:
                x = X[i, feature[node]]
                if np.isnan(x):
                    node = left[node] if nan_left[node] else right[node]
                elif x <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            for k in range(value.shape[1]):
                out[i, k] += value[node, k]
        for k in range(value.shape[1]):
            out[i, k] /= n_trees


def predict(packed: PackedForest, X: np.ndarray) -> np.ndarray:
    """(rows, outputs): the forest's mean leaf value per row (regressor: the prediction; classifier:
    the class probabilities in ``classes_`` order)."""
    # trees compare float32 inputs (as fitted) against float64 thresholds
    Xf = np.ascontiguousarray(np.asarray(X, dtype="float32")).astype("float64")
    if Xf.ndim != 2 or Xf.shape[1] != packed.n_features:
        raise ValueError(f"X has shape {Xf.shape}; the forest was fitted on {packed.n_features} features")
    out = np.zeros((Xf.shape[0], packed.value.shape[1]))
    _eval(Xf, packed.roots, packed.left, packed.right, packed.feature, packed.threshold, packed.nan_left,
          packed.value, out)
    return out

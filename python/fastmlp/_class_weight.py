"""Class weights (MLPClassifier's ``class_weight``), as training sample
weights."""

import numpy as np


def sample_weight_with_class_weight(class_weight, y_type, classes, Y, sample_weight):
    """The training weight of each sample: its class weight (from the
    binarized targets Y, (n_samples, n_outputs)) times its sample_weight;
    sample_weight itself without class_weight.  float64.  y_type: the
    LabelBinarizer's target type."""
    if class_weight is None:
        return sample_weight
    Y = np.asarray(Y).reshape(Y.shape[0], -1)
    if y_type.startswith("multilabel"):
        weight = _multilabel_class_weight(class_weight, Y, sample_weight)
    else:
        # binarized as a 0/1 column (two classes or one) or one-hot
        class_index = (
            Y[:, 0].astype(np.intp) if Y.shape[1] == 1 else np.argmax(Y, axis=1)
        )
        if isinstance(class_weight, list):
            raise ValueError(
                "class_weight as a list of dicts (one per label) is for "
                "multilabel targets; for these targets pass a dict "
                "{class_label: weight} or 'balanced'."
            )
        per_class = class_weights(class_weight, classes, class_index, sample_weight)
        weight = per_class[class_index]
    if sample_weight is not None:
        weight = weight * np.asarray(sample_weight, dtype=np.float64)
    return weight


def _multilabel_class_weight(class_weight, Y, sample_weight):
    """Multilabel targets, as scikit-learn's compute_sample_weight weighs
    multi-output ones: each label is a 0/1 output weighted by its own
    class weights ('balanced' per label, or one dict {0: w, 1: w} per
    label); a sample's weight is the product over its labels (the loss
    weighs samples, not single labels)."""
    n_labels = Y.shape[1]
    if isinstance(class_weight, dict):
        raise ValueError(
            "For multilabel targets, class_weight must be 'balanced' or a list "
            f"of {n_labels} dicts (one per label, mapping 0 and 1 to weights); "
            "got a dict."
        )
    if isinstance(class_weight, list):
        if len(class_weight) != n_labels:
            raise ValueError(
                f"class_weight has {len(class_weight)} dicts but the "
                f"multilabel target has {n_labels} labels; pass one dict per "
                "label."
            )
        if not all(isinstance(d, dict) for d in class_weight):
            raise ValueError(
                "class_weight for multilabel targets must be a list of dicts, "
                f"got {class_weight!r}."
            )
    weight = np.ones(Y.shape[0])
    for k in range(n_labels):
        class_weight_k = class_weight if class_weight == "balanced" else class_weight[k]
        index = Y[:, k].astype(np.intp)
        weight *= class_weights(class_weight_k, np.array([0, 1]), index, sample_weight)[index]
    return weight


def class_weights(class_weight, classes, class_index, sample_weight):
    """Weight of each class of `classes` (float64, one per class).

    class_index: each sample's index in `classes`.  'balanced': the total
    sample weight over (number of classes present * the class's weight),
    n_samples / (n_classes * count) when unweighted (scikit-learn's
    compute_class_weight, which LogisticRegression also weighs by
    sample_weight); a dict {class label: weight}: classes it omits weigh 1."""
    n_classes = len(classes)
    weights = np.ones(n_classes)
    if isinstance(class_weight, str):  # 'balanced'
        present = np.bincount(class_index, minlength=n_classes) > 0
        totals = np.bincount(class_index, weights=sample_weight, minlength=n_classes)
        # a present class whose samples all weigh 0 keeps weight 1 (unused)
        usable = present & (totals > 0)
        weights[usable] = totals.sum() / (present.sum() * totals[usable])
        return weights
    unweighted = []
    for i, label in enumerate(classes):
        label = label.item() if isinstance(label, np.generic) else label
        if label in class_weight:
            weights[i] = class_weight[label]
        else:
            unweighted.append(label)
    # as scikit-learn: labels that match no class are an error when some
    # class is left unweighted (a misspelt label, most likely)
    if unweighted and n_classes - len(unweighted) != len(class_weight):
        known = set(np.asarray(classes).tolist())
        unknown = [k for k in class_weight if k not in known]
        raise ValueError(
            f"class_weight has labels {unknown} that are not classes of y, and "
            f"the classes {unweighted} are not in class_weight (the classes are "
            f"{np.asarray(classes).tolist()})."
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            "class_weight values must be finite and non-negative, got "
            f"{class_weight!r}."
        )
    return weights

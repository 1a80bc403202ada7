"""Training curves of a fitted estimator, drawn with matplotlib (optional)."""

from sklearn.utils.validation import check_is_fitted


def plot_loss_curve(estimator, ax=None):
    """Plot the training loss per epoch of a fitted MLP, with its validation
    curves when it was trained with early stopping.

    The training loss (``loss_curve_``) and, when recorded, the validation
    loss (``validation_loss_curve_``) share the left y axis; the validation
    score (``validation_scores_``: accuracy or R^2) is drawn on a second y
    axis on the right.  Epochs are numbered from 1.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        A fitted estimator with a stochastic solver ('sgd', 'adam', ...);
        'lbfgs' records no loss curve.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure's Axes when None.

    Returns
    -------
    ax : matplotlib Axes
        The Axes of the losses.  With a validation score, its twin Axes
        (which holds the score and the legend) is ``ax.right_ax``.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    sklearn.exceptions.NotFittedError
        The estimator is not fitted.
    ValueError
        The estimator has no loss curve (fitted with solver='lbfgs').

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from fastmlp import MLPClassifier, plot_loss_curve
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(early_stopping=True, max_iter=30, random_state=0)
    >>> ax = plot_loss_curve(clf.fit(X / 16, y))
    >>> ax.get_xlabel()
    'epoch'
    """
    check_is_fitted(estimator)
    loss_curve = getattr(estimator, "loss_curve_", None)
    if not loss_curve:
        raise ValueError(
            f"{type(estimator).__name__} has no loss curve to plot: only the "
            f"stochastic solvers record loss_curve_ (this one was fitted with "
            f"solver={getattr(estimator, 'solver', None)!r})."
        )
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "plot_loss_curve draws with matplotlib, which is not installed; "
            "install it with `pip install matplotlib` (or "
            "`pip install fastmlp[plot]`)."
        ) from exc

    if ax is None:
        _, ax = plt.subplots()
    n_epochs = len(loss_curve)
    ax.plot(range(1, n_epochs + 1), loss_curve, label="training loss", color="C0")

    val_loss = getattr(estimator, "validation_loss_curve_", None) or []
    val_score = getattr(estimator, "validation_scores_", None) or []
    # validation curves end with the training curve (a warm start may have
    # begun without early stopping)
    if val_loss:
        ax.plot(range(n_epochs - len(val_loss) + 1, n_epochs + 1), val_loss,
                label="validation loss", color="C1")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    handles, labels = ax.get_legend_handles_labels()
    legend_ax = ax
    if val_score:
        right = ax.twinx()
        right.plot(range(n_epochs - len(val_score) + 1, n_epochs + 1), val_score,
                   label="validation score", color="C2", linestyle="--")
        right.set_ylabel("validation score")
        ax.right_ax = legend_ax = right  # drawn on top: the legend goes there
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    # losses fall from the upper left, scores rise to the top: the middle
    # of the right side is usually free
    legend_ax.legend(handles, labels, loc="center right")
    ax.set_title(f"{type(estimator).__name__}: training curves")
    return ax

"""Search spaces over the main hyperparameters of each model family."""

from __future__ import annotations

from typing import Any

from ray import tune

from pipelines.errors import ModelError


def _xgboost() -> dict[str, Any]:
    return {"max_depth": tune.randint(2, 7), "learning_rate": tune.loguniform(0.01, 0.3),
            "n_estimators": tune.choice([100, 200, 400]), "subsample": tune.uniform(0.5, 1.0),
            "colsample_bytree": tune.uniform(0.5, 1.0), "min_child_weight": tune.choice([1, 5, 10]),
            "reg_lambda": tune.loguniform(0.1, 10.0)}


def _lightgbm() -> dict[str, Any]:
    return {"num_leaves": tune.choice([7, 15, 31]), "learning_rate": tune.loguniform(0.01, 0.3),
            "n_estimators": tune.choice([100, 200, 400]), "min_child_samples": tune.choice([10, 20, 50]),
            "subsample": tune.uniform(0.5, 1.0), "colsample_bytree": tune.uniform(0.5, 1.0),
            "reg_lambda": tune.loguniform(0.1, 10.0)}


def _deep() -> dict[str, Any]:
    return {"hidden": tune.choice([16, 32, 64]), "window": tune.choice([16, 32, 64]),
            "lr": tune.loguniform(1e-4, 3e-3), "dropout": tune.uniform(0.0, 0.3),
            "batch_size": tune.choice([32, 64, 128]), "layers": tune.choice([1, 2])}


TABULAR = {"xgboost": _xgboost, "lightgbm": _lightgbm}


def search_space(model: str, consumes: str, fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The space for ``model``; keys given in ``fixed`` are held at that value instead."""
    if consumes == "sequence":
        space = _deep()
    elif model in TABULAR:
        space = TABULAR[model]()
    else:
        raise ModelError(f"no search space for {model!r}: tune one of {', '.join(sorted(TABULAR))} "
                         f"or a sequence model")
    fixed = dict(fixed or {})
    return {**{k: v for k, v in space.items() if k not in fixed}, **fixed}

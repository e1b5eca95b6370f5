"""Splits, full-ranking metrics and the tuning / evaluation loop."""

from pulserec.evaluation.evaluator import (
    EvalResult,
    blend_grid,
    evaluate,
    fit_model,
    param_combinations,
    run_model,
    tune,
)
from pulserec.evaluation.splits import (
    PROTOCOLS,
    Split,
    SplitData,
    leave_one_out,
    make_split,
    positive_interactions,
    random811,
    read_split,
    to_split_data,
    write_split,
)

__all__ = [
    "PROTOCOLS",
    "EvalResult",
    "Split",
    "SplitData",
    "blend_grid",
    "evaluate",
    "fit_model",
    "leave_one_out",
    "make_split",
    "param_combinations",
    "positive_interactions",
    "random811",
    "read_split",
    "run_model",
    "to_split_data",
    "tune",
    "write_split",
]

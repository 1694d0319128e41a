from ..utils.compat import launch
from .defaults import (
    argument_parser,
    config_arguments,
    exit_if_datasets_missing,
    main,
    register_datasets,
    setup,
)
from .trainer import Trainer

__all__ = [
    "Trainer",
    "argument_parser",
    "config_arguments",
    "exit_if_datasets_missing",
    "launch",
    "main",
    "register_datasets",
    "setup",
]

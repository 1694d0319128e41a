from ..utils.compat import launch
from .defaults import argument_parser, config_arguments, main, register_datasets, setup
from .trainer import Trainer

__all__ = [
    "Trainer",
    "argument_parser",
    "config_arguments",
    "launch",
    "main",
    "register_datasets",
    "setup",
]

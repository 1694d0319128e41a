from .defaults import (
    argument_parser,
    config_arguments,
    exit_if_datasets_missing,
    main,
    register_datasets,
    setup,
    training_command,
)
from .launch import LaunchError, launch, launch_from_args, launcher_group
from .progress import ProgressBar
from .trainer import Trainer

__all__ = [
    "LaunchError",
    "ProgressBar",
    "Trainer",
    "argument_parser",
    "config_arguments",
    "exit_if_datasets_missing",
    "launch",
    "launch_from_args",
    "launcher_group",
    "main",
    "register_datasets",
    "setup",
    "training_command",
]

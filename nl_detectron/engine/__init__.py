from .defaults import argument_parser, load_config, main, setup
from .trainer import Trainer

__all__ = ["Trainer", "argument_parser", "load_config", "main", "setup"]

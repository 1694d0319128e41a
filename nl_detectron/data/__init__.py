from .demo_shapes import register_demo_shapes

__all__ = ["register_demo_shapes"]

"""Pulumi components of the stack, one concern per module; `__main__.py` composes them."""

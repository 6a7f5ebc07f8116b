"""Unlearning Inspector: the model, data and maths side (never imports gradio)."""

__version__ = "0.1.0"

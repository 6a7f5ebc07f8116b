"""Unlearning methods, one file each; importing this package registers them all."""

from . import ga, grad_diff, kl, npo, simnpo  # noqa: F401  (registration side effects)
from .registry import METHODS, Context, Method, MethodInfo, config_for, describe, get_method

__all__ = ["METHODS", "Context", "Method", "MethodInfo", "config_for", "describe", "get_method"]

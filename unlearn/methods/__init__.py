"""Unlearning methods, one file each; importing this package registers them all."""

from . import ce_u, ga, grad_diff, idk_dpo, kl, npo, pdu, rmu, simnpo, undial, wga  # noqa: F401  (registration side effects)
from .registry import METHODS, Context, Method, MethodInfo, config_for, describe, get_method

__all__ = ["METHODS", "Context", "Method", "MethodInfo", "config_for", "describe", "get_method"]

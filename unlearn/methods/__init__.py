"""Unlearning methods, one file each; importing this package registers them all."""

from . import (  # noqa: F401  (registration side effects)
    attn_shift,
    blur,
    ce_u,
    ga,
    grad_diff,
    idk_dpo,
    kfade,
    kl,
    modhifi,
    npo,
    ofmu,
    pdu,
    random_label,
    reglu,
    reva,
    rmu,
    shred,
    simnpo,
    ucan,
    undial,
    wga,
)
from .registry import METHODS, Context, EditMethod, Method, MethodInfo, config_for, describe, get_method

__all__ = ["METHODS", "Context", "EditMethod", "Method", "MethodInfo", "config_for", "describe", "get_method"]

"""Forward hooks attached for the length of a `with` block, and removed on leaving it.

The app keeps one model for every run, audit and comparison of a session. A hook left behind by a
block that failed half-way would run on every later forward of that model: a statistic hook keeps
accumulating (and holding memory), and an argument-injecting pre-hook (params.py's side-by-side rows)
would change what every later forward computes. So hooks are registered here only, each inside the
`try`, so that those registered before a failure are removed too.

A hook on a module acts on every forward of it, whichever thread runs that forward. Where two threads
run forwards of one model at once (cpu_streams.py's side-by-side scoring, or two of the app's sessions),
a hook meant for one call (forward.py's head on the answer positions) is registered with `this_thread`,
so that it leaves the other threads' forwards alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

Hook = Callable[..., Any]


@contextmanager
def forward_hooks(
    hooks: Iterable[tuple[torch.nn.Module, Hook]],
    pre: bool = False,
    with_kwargs: bool = False,
    this_thread: bool = False,
) -> Iterator[list[RemovableHandle]]:
    """Each `(module, fn)` as a forward hook (`fn(module, args, output)`), or with `pre` as a forward
    pre-hook (`fn(module, args)`), for the block; `with_kwargs` as in torch (the keyword arguments
    passed too); with `this_thread`, acting only on forwards run by the thread that entered the block.
    The handles are yielded; every hook is removed on exit, an exception included.

    >>> lin = torch.nn.Linear(2, 2)
    >>> seen = []
    >>> with forward_hooks([(lin, lambda m, args, out: seen.append(out.shape))]):
    ...     _ = lin(torch.zeros(3, 2))
    >>> _ = lin(torch.zeros(1, 2))  # after the block: not seen
    >>> seen, len(lin._forward_hooks)
    ([torch.Size([3, 2])], 0)
    """
    handles: list[RemovableHandle] = []
    try:
        for module, fn in hooks:
            register = module.register_forward_pre_hook if pre else module.register_forward_hook
            handles.append(register(_in_thread(fn) if this_thread else fn, with_kwargs=with_kwargs))
        yield handles
    finally:
        for h in handles:
            h.remove()


def _in_thread(fn: Hook) -> Hook:
    """`fn` for forwards run by the calling thread; elsewhere a hook that changes nothing (None)."""
    owner = threading.get_ident()

    def scoped(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs) if threading.get_ident() == owner else None

    return scoped

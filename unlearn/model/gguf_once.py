"""Read a GGUF file once while transformers converts it.

`from_pretrained(..., gguf_file=...)` parses the whole file for the tokenizer, again for the config and
again for the weights, and builds gguf's tensor-name table once per weight. For SmolLM2-135M on 2 cores
each parse takes ~8 s (49,152 vocabulary strings read field by field from a memory map) and the tables
~10 s: 45 s of a conversion whose dequantizing takes 3 s. Inside `parsed_once()` the three reads share
one parsed reader and the table is built once per (architecture, layers). Both are read-only, so sharing
them changes nothing in what is converted: the bundled model's converted weights, config and tokenizer files were
byte for byte those of an unpatched conversion (2026-12-01); the tests check that a shared reader reads what a
fresh parse reads, and that a real conversion constructs one reader.

transformers imports `GGUFReader` and `get_tensor_name_map` from the `gguf` module at each call, so
swapping the module's attributes for the block reaches them; they are put back on the way out.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.Lock()  # one patched block at a time: the attributes are process-wide


@contextmanager
def parsed_once() -> Iterator[None]:
    """Within the block `gguf.GGUFReader(path)` returns one reader per path and `gguf.get_tensor_name_map`
    one table per argument set; both are the library's own objects."""
    import gguf

    with _LOCK:
        reader_cls, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
        readers: dict[tuple[str, str], Any] = {}

        def shared_reader(path: Any, mode: str = "r") -> Any:
            key = (str(path), mode)
            if key not in readers:
                readers[key] = reader_cls(path, mode)
            return readers[key]

        gguf.GGUFReader = shared_reader
        gguf.get_tensor_name_map = functools.cache(name_map)
        try:
            yield
        finally:
            gguf.GGUFReader, gguf.get_tensor_name_map = reader_cls, name_map

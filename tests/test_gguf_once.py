"""The GGUF file is parsed once per conversion (gguf_once.py), and what is read is what a fresh parse reads."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from unlearn.model.gguf_once import parsed_once


def _small_gguf(path: Path) -> Path:
    """A small GGUF written by the library's own writer: a vocabulary field and two tensors."""
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_token_list([f"tok{i}" for i in range(300)])
    w.add_tensor("token_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4))
    w.add_tensor("blk.0.attn_q.weight", np.ones((4, 4), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_the_reads_share_one_reader_that_reads_what_a_fresh_one_reads(tmp_path: Path) -> None:
    path = _small_gguf(tmp_path / "small.gguf")
    fresh = gguf.GGUFReader(path)
    arch = gguf.MODEL_ARCH.LLAMA
    with parsed_once():
        first, second = gguf.GGUFReader(path), gguf.GGUFReader(str(path))
        assert first is second  # the tokenizer, config and weight reads get one parse
        assert gguf.get_tensor_name_map(arch, 2) is gguf.get_tensor_name_map(arch, 2)
    assert isinstance(first, type(fresh))  # the library's own reader
    assert list(first.fields) == list(fresh.fields)
    tokens = "tokenizer.ggml.tokens"
    assert [bytes(first.fields[tokens].parts[i]) for i in first.fields[tokens].data] == [
        bytes(fresh.fields[tokens].parts[i]) for i in fresh.fields[tokens].data
    ]
    assert (
        [t.name for t in first.tensors]
        == [t.name for t in fresh.tensors]
        == ["token_embd.weight", "blk.0.attn_q.weight"]
    )
    assert all(np.array_equal(a.data, b.data) for a, b in zip(first.tensors, fresh.tensors, strict=True))
    # put back afterwards: a later reader is a new parse, a later table a new table
    assert gguf.GGUFReader(path) is not first
    assert gguf.get_tensor_name_map(arch, 2) is not gguf.get_tensor_name_map(arch, 2)

"""Markdown cards and tables shown in the app, built from plain dicts."""

from __future__ import annotations

from typing import Any


def _human(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return str(n)


def model_card(info: dict[str, Any] | None) -> str:
    """The model card: what is loaded, its shape, where it runs.

    >>> "134.5 M" in model_card({"name": "m", "params": 134_515_008, "layers": 30, "heads": 9,
    ...     "kv_heads": 3, "hidden_size": 576, "vocab_size": 49152, "device": "cpu",
    ...     "dtype": "float32", "load_seconds": 0.3, "source": "bundled", "attention": "eager"})
    True
    """
    if not info:
        return "**No model loaded.** Pick a source and press *Load model*."
    gqa = f" ({info['kv_heads']} key/value heads, grouped-query)" if info["kv_heads"] != info["heads"] else ""
    rows = [
        ("Model", f"**{info['name']}**"),
        ("Source", f"{info['source']}"),
        ("Parameters", f"{_human(info['params'])} ({info['params']:,})"),
        ("Layers × heads", f"{info['layers']} × {info['heads']}{gqa}"),
        ("Hidden size / vocabulary", f"{info['hidden_size']} / {info['vocab_size']:,}"),
        ("Device, dtype", f"{info['device']}, {info['dtype']} · {info.get('attention', '')} attention"),
        ("Load time", f"{info['load_seconds']:.2f} s"),
    ]
    taught = info.get("taught")
    if taught:
        rows.append(
            ("Taught", f"{taught['set']} ({taught['items']} items, {taught['epochs']:g} epochs, lr {taught['lr']:g})")
        )
    return "| Model card | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def knowledge_line(role: str, name: str, size: int, note: str, warn: str = "") -> str:
    """One line per selected set: role, name, size, and whose knowledge it is."""
    line = f"**{role.capitalize()}**: `{name}`, {size} items: {note}"
    return line + (f"  \n⚠️ {warn}" if warn else "")


def method_card(d: dict[str, Any], with_table: bool = True) -> str:
    """What a method optimises, what it needs, what it trains, its paper, and both default sets."""
    kind = (
        "✅ faithful to the published algorithm"
        if d["faithful"]
        else "⚠️ **reconstruction** from the paper's description"
    )
    needs = (
        ["forget set"]
        + (["retain set"] if d["needs_retain"] else [])
        + (["refusal list"] if d.get("needs_refusals") else [])
    )
    head = (
        f"**{d['name']}** (`{d['id']}`): {d['summary']}  \n"
        f"Needs: {', '.join(needs)} · Trains: {d['parameters_trained']} · {kind}  \n"
        f"Paper: {d['paper']}  \n"
        + (
            "No optimizer: statistics of the forget and retain sets, then a direct edit of the weights "
            "(steps, learning rate and the gradient options do not apply)."
            if d.get("training_free")
            else f"Learning rate: quick demo {d['lr']:g}, paper {d['paper_lr']:g}"
        )
    )
    if not d["hyperparameters"]:
        return head + "  \nNo hyperparameters of its own."
    if not with_table:
        return head
    rows = "\n".join(f"| `{h['name']}` | {h['quick']} | {h['paper']} | {h['help']} |" for h in d["hyperparameters"])
    return head + "\n\n| hyperparameter | quick demo | paper | meaning |\n|---|---|---|---|\n" + rows


def before_after_table(rows: list[tuple[str, float, float]]) -> list[list[Any]]:
    """(set, P before, P after) -> table rows with the ratio after / before.

    >>> before_after_table([("forget", 0.2, 0.01)])[0][3]
    '0.050'
    """
    return [[name, f"{b:.4f}", f"{a:.4f}", f"{a / b:.3f}" if b else "n/a"] for name, b, a in rows]

"""Benchmarks and sweeps, beside the product code: `python -m unlearn bench|sweep`; and the README's
method table (`python -m unlearn.tools.method_table --write`). Imports from any unlearn sub-package;
never gradio."""

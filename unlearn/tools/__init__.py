"""Benchmarks and sweeps, beside the product code: `python -m unlearn bench|sweep`.
Imports from any unlearn sub-package; never gradio."""

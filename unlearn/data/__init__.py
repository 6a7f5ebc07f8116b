"""The sets: built-in and uploaded files, hub benchmarks, item checks, what a model knows, teaching.
Imports only from unlearn.model and the standard libraries; never gradio."""

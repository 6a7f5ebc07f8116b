"""One unlearning run: the engine, the loop, the trained parameters and one file per method.
Imports from unlearn.data and unlearn.model; never gradio."""

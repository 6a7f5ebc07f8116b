"""The model and the pair compared: loading, devices and kernels, imported and exported checkpoints.
Imports only from unlearn.data (examples, prompts); never gradio."""

"""Did the model forget: membership scores, REMIND, TOFU metrics, attacks and the audit record.
Imports from unlearn.data, unlearn.model and unlearn.train; never gradio."""

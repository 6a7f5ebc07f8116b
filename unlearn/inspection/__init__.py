"""The Compare tab's computations: probes, both generations, attribution, streaming.
Imports from unlearn.data, unlearn.model and unlearn.train; never gradio."""

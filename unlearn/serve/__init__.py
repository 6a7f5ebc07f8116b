"""The app's shared side: access policy, the job table, the one shared model, the Runs overview.
Imports from any unlearn sub-package; never gradio."""

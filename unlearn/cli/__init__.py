"""The command line, `python -m unlearn COMMAND`: one module per group of commands, and the parser.
Imports from any unlearn sub-package; never gradio."""

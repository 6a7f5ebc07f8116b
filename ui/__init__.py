"""The app's event handlers, one module per tab: gradio in, `unlearn/` and `viz/` calls, gradio out.
No maths here and no layout (that is app.py)."""

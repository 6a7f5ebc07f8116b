"""Pure presentation: plain values (arrays, dicts) in, Plotly figures or Markdown out.

Nothing here imports torch or gradio, so every function is testable on synthetic data.
"""

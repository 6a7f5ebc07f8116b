"""The app's tabs, one package each (data_tab, unlearn_tab, compare_tab, audit_tab, runs_tab): page.py builds a
tab and wires its events, handlers.py turns gradio values into `unlearn/` and `viz/` calls. No maths here."""

"""The Guided demo tab: the story of one unlearning run in six buttons, for a class.
page.py builds and wires it; handlers.py does the work (with unlearn/serve/guided.py). Imports
ui.common, never another tab."""

"""The Unlearn tab: a method, its settings, the run with live curves, undo, ask both, saved runs.
page.py builds and wires it; handlers.py does the work. Imports ui.common/ui.shared, never another tab."""

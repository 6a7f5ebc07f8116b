"""The Runs tab: every saved run with its audit headline; open, export, delete, import a pair.
page.py builds and wires it; handlers.py does the work. Imports ui.common/ui.shared, never another tab."""

"""The Model & data tab: load a model, pick, add and edit the forget/retain/holdout sets, teach, ask.
page.py builds and wires it; handlers.py and sources.py do the work. Imports ui.common/ui.shared, never another tab."""

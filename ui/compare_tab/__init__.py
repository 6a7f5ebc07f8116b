"""The Compare tab: before | after on one prompt, every panel drawn from one forward per model.
page.py builds and wires it; handlers.py does the work. Imports ui.common/ui.shared, never another tab."""

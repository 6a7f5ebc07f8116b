"""The Audit tab: did it really forget? Membership inference, REMIND, TOFU metrics, attacks, report.
page.py builds and wires it; handlers.py does the work. Imports ui.common/ui.shared, never another tab."""

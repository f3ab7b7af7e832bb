"""`tcctl`, the operator's console for the controller: run it, apply and inspect intents.

Nothing imports this package; it sits on top of the layers (see pyproject's import-linter
contracts) so the controller never depends on its own command line.
"""

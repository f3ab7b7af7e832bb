"""Test doubles, for the components that cannot run here (see DESIGN.md: only those)."""

"""Test kits shared by tests/ and bench/ (not part of the installed product)."""

"""The `tinyfleet` command line: a thin root that loads each command from its own package."""

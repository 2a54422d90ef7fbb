"""tinyfleet: from a TinyML model to a fleet of microcontrollers and edge boards."""

__version__ = "0.1.0"

"""Produce an email newsletter from YAML: check, preview, render, send and archive."""

__version__ = "0.1.0"

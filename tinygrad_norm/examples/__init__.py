"""Worked examples that ship with the library."""

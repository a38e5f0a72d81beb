"""Tousu's extensions loaded by the Rasa server (see ../README.md)."""

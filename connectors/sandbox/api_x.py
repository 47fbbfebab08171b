"""Sandbox routes for x (being written)."""

"""Sandbox routes for hubspot (being written)."""

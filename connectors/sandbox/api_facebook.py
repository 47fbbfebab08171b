"""Sandbox routes for facebook (being written)."""

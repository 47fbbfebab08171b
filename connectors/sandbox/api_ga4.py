"""Sandbox routes for ga4 (being written)."""

"""Sandbox routes for mailchimp (being written)."""

"""Pieces every HTML page shares: error pages, template filters, the health endpoint."""

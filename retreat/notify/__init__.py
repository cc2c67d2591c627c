"""Outbound email: an outbox table written in the same transaction as the change it announces, and a sender
that delivers after commit and retries on failure."""

"""Finance: the payment ledger read for the finance console, exports for the accountant, reconciliation.

Read-only over the ledger (retreat.payments.models.Payment): nothing here records or changes a payment. The
only write is an audit entry naming who exported which period.
"""

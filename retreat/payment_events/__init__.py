"""What payment providers report, turned into bookings' changes: Stripe's webhook, the pay page's return, and
reconciling with Stripe. Above booking (it calls booking's services); below it, payments.stripe_provider talks to
Stripe and knows no booking."""

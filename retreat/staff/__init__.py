"""Staff accounts, roles and login; the consoles of coordinators, clinicians, finance and admins."""

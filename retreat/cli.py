"""Command-line tools (`flask --app wsgi ...`), one group per area."""

import click
from flask import Flask

from retreat.demo import seed_demo_data, seed_demo_staff
from retreat.pricing.services import ensure_default_price_list


def register_cli(app: Flask) -> None:
    @app.cli.group("demo")
    def demo():
        """Demo data for development."""

    @demo.command("seed")
    def demo_seed():
        """Load demo programs, cohorts, prices and staff users into an empty database."""
        if seed_demo_data():
            click.echo("Loaded the demo programs, cohorts and price list.")
        else:
            click.echo("Programs exist already; demo catalog left as it is.")
        made = seed_demo_staff()
        if made:
            click.echo("\nDemo staff users (sign in at /staff/login). These one-time passwords are shown only now;")
            click.echo("each user chooses their own at first sign-in:")
            for email, roles, password in made:
                click.echo(f"  {', '.join(roles):<12} {email:<30} {password}")

    @app.cli.group("pricing")
    def pricing():
        """Price lists."""

    @pricing.command("init")
    def pricing_init():
        """Load the default price list (version 1) if there is no price list yet."""
        if ensure_default_price_list():
            click.echo("Loaded the default price list as version 1.")
        else:
            click.echo("A price list exists already; nothing changed.")

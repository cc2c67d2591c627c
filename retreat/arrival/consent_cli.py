"""`flask consent init --file FILE`: load the clinic's consent as version 1 into a database that has none (a new
installation; later changes are made by admins at /staff/consent). The file is plain text, each section a line
`## Title` followed by its text."""

from pathlib import Path

import click

from retreat.arrival import consent
from retreat.core.errors import ValidationFailed


@click.group("consent")
def consent_cli():
    """The informed consent applicants sign."""


@consent_cli.command("init")
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The consent as text: each section a line '## Title', then its text.")
@click.option("--note", default="The clinic's consent, loaded at setup.", show_default=True)
def consent_init(path: Path, note: str):
    """Publish the consent in FILE as version 1, if no version exists yet."""
    try:
        version = consent.ensure_consent(path.read_text(encoding="utf-8"), note)
    except ValidationFailed as refusal:
        raise click.ClickException(" ".join(reason for reasons in refusal.fields.values() for reason in reasons)) \
            from None
    if version is None:
        click.echo("A consent version exists already; nothing changed. Admins change it at /staff/consent.")
    else:
        click.echo(f"Published the consent as version {version.number} ({len(version.sections)} sections), "
                   f"sha256 {version.content_hash}.")

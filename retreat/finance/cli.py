"""`flask finance ...`: exports of the payment ledger from the command line."""

import os
import sys
import tempfile
from pathlib import Path

import click
from flask.cli import AppGroup

from retreat.core.errors import ValidationFailed
from retreat.finance import exports
from retreat.finance import services as finance

finance_cli = AppGroup("finance", help="The payment ledger: exports for the accountant.")

PROGRESS_FROM_ROWS = 10_000  # a progress bar from this many rows on (unless --progress/--no-progress says)
DATE = click.DateTime(formats=["%Y-%m-%d"])


@finance_cli.command("export")
@click.option("--from", "date_from", required=True, type=DATE, help="First day (UTC), included: YYYY-MM-DD.")
@click.option("--to", "date_to", required=True, type=DATE, help="Last day (UTC), included: YYYY-MM-DD.")
@click.option("--format", "export_format", type=click.Choice(exports.FORMATS), default="csv", show_default=True,
              help="csv and xlsx have the columns of the API contract; quickbooks and xero are bank-statement "
                   "layouts (a ZIP of several CSV files beyond 1,000 lines).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The file to write.")
@click.option("--progress/--no-progress", default=None,
              help=f"Show a progress bar (default: from {PROGRESS_FROM_ROWS:,} payments on).")
def export(date_from, date_to, export_format: str, out: Path, progress: bool | None):
    """Export the payments of a period to a file. The export is recorded in the audit log."""
    try:
        filters = finance.LedgerFilters(date_from=date_from.date(), date_to=date_to.date()).check()
    except ValidationFailed as refusal:
        for field, reasons in refusal.fields.items():
            click.echo(f"{field}: {' '.join(reasons)}", err=True)
        raise SystemExit(1) from None
    count = finance.count_payments(filters)
    finance.record_export(filters, export_format, count, via="command line")
    show = progress if progress is not None else count >= PROGRESS_FROM_ROWS
    folder = out.resolve().parent
    handle, partial = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            if show:
                with click.progressbar(length=count, label=f"Exporting {count:,} payments",
                                       file=sys.stderr) as bar:
                    built = exports.build_export(filters, export_format, progress=bar.update)
                    for chunk in built.chunks:
                        file.write(chunk)
            else:
                built = exports.build_export(filters, export_format)
                for chunk in built.chunks:
                    file.write(chunk)
        os.replace(partial, out)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    what = "a ZIP of CSV files" if built.mimetype == exports.ZIP_MIMETYPE else exports.FORMAT_LABELS[export_format]
    click.echo(f"Wrote {count:,} payments ({filters.period}) to {out} as {what}.", err=True)
    if Path(built.filename).suffix != out.suffix:
        click.echo(f"Note: the file is {Path(built.filename).suffix[1:].upper()}; a name ending in "
                   f"{Path(built.filename).suffix} would suit it (suggested: {built.filename}).", err=True)

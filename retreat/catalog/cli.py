"""`flask discounts ...`: discount codes from the command line (the staff console has the same, with edits and
the uses of each code)."""

import click
from flask.cli import AppGroup

from retreat.catalog import discounts
from retreat.core.errors import ValidationFailed

discounts_cli = AppGroup("discounts", help="Discount codes.")

# The option of each field a refusal names.
OPTION_OF = {"code": "--code", "percent_off": "--percent", "amount_off_cents": "--amount-cents",
             "programs": "--program", "valid_from": "--valid-from", "valid_until": "--valid-until",
             "max_uses": "--max-uses"}


@discounts_cli.command("create")
@click.option("--code", required=True, help="What applicants type (stored in capitals; the same however typed).")
@click.option("--percent", "percent", type=int, help="A whole percentage off, 1 to 100.")
@click.option("--amount-cents", "amount_cents", type=int, help="A fixed amount off, in cents.")
@click.option("--program", "programs", multiple=True, metavar="SLUG",
              help="Limit the code to this program (repeat for more); none: every program.")
@click.option("--max-uses", type=int, help="At most this many bookings; none: no limit.")
@click.option("--valid-until", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="The last day it works, in the clinic's calendar (inclusive).")
def create(code, percent, amount_cents, programs, max_uses, valid_until):
    """Create an active discount code: --percent P or --amount-cents N (exactly one). Audited."""
    if (percent is None) == (amount_cents is None):
        raise click.UsageError("Give exactly one of --percent and --amount-cents.")
    try:
        row = discounts.create_code({
            "code": code, "percent_off": percent, "amount_off_cents": amount_cents,
            "program_ids": discounts.programs_by_slug(programs), "max_uses": max_uses,
            "valid_from": None, "valid_until": valid_until.date() if valid_until else None,
        })
    except ValidationFailed as refusal:
        raise click.UsageError("; ".join(f"{OPTION_OF.get(name, name)}: {' '.join(reasons)}"
                                         for name, reasons in refusal.fields.items())) from None
    limits = [", ".join(program.slug for program in row.programs) or "every program"]
    if row.max_uses is not None:
        limits.append(f"at most {row.max_uses} booking(s)")
    if row.valid_until is not None:
        limits.append(f"until {row.valid_until.isoformat()}")
    off = f"{row.percent_off}%" if row.percent_off is not None else f"{row.amount_off_cents} cents"
    click.echo(f"Created {row.code}: {off} off; {'; '.join(limits)}.")

"""QuickBooks Online and Xero bank-statement layouts (shared/domain/accounting.md): the exact columns, MM/DD/YYYY
dates, signed amounts, fees as their own lines, at most 1,000 lines a file (a ZIP beyond), each file importable
alone, and the totals equal to the ledger's."""

import csv
import io
import zipfile
from datetime import UTC, date
from decimal import Decimal

import pytest

from retreat.finance import exports
from retreat.finance.exports import BANK_LAYOUTS, write_bank
from retreat.finance.services import ExportRow, LedgerFilters
from tests.finance.support import MARCH


def row(number: int, *, fee: int | None = None, kind: str = "deposit", amount: int = 10_000,
        status: str = "succeeded", provider: str = "offline") -> ExportRow:
    return ExportRow("2027-03-09", number, f"RT-{number:06d}", f"Payer {number}", f"p{number}@example.org",
                     "IV Week", "2027-05-03", kind, provider, f"ref_{number}", status, "usd", amount, fee,
                     None if fee is None else amount - fee)


def write(rows, layout="quickbooks", **options):
    buffer = io.BytesIO()
    written = write_bank(rows, BANK_LAYOUTS[layout], "retreat-payments_2027-03-01_to_2027-03-31", buffer,
                         period="2027-03-01..2027-03-31", **options)
    return written, buffer.getvalue()


def parse(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))


def files_of(written, content) -> dict[str, bytes]:
    if written.mimetype == exports.ZIP_MIMETYPE:
        with zipfile.ZipFile(io.BytesIO(content)) as package:
            return {name: package.read(name) for name in package.namelist()}
    return {written.filename: content}


@pytest.mark.parametrize(("layout", "header"), [
    ("quickbooks", ["Date", "Description", "Amount"]),
    ("xero", ["Date", "Amount", "Payee", "Description", "Reference"]),
])
def test_each_layout_has_its_vendors_columns_and_formats(layout, header):
    rows = [row(1), row(2, kind="refund", amount=-2_550, provider="stripe", fee=0),
            row(3, kind="balance", amount=123_450, provider="stripe", fee=3_610)]
    written, content = write(rows, layout)
    assert written.mimetype == "text/csv" and written.files == 1
    assert written.filename.endswith("_quickbooks-online-3-column.csv" if layout == "quickbooks"
                                      else "_xero-bank-statement.csv"), "the file says which layout it is"
    assert not content.startswith(b"\xef\xbb\xbf") and b"\r\n" in content
    lines = parse(content)
    assert lines[0] == header
    assert all(len(line) == len(header) for line in lines)
    amount = header.index("Amount")
    assert [line[0] for line in lines[1:]] == ["03/09/2027"] * 4, "MM/DD/YYYY"
    assert [line[amount] for line in lines[1:]] == ["100.00", "-25.50", "1234.50", "-36.10"], \
        "signed plain numbers: no symbol, no thousands separator; a known fee follows its payment"
    description = lines[1][header.index("Description")]
    assert "RT-000001" in description and "ref_1" in description
    assert "fee" in lines[4][header.index("Description")].lower()
    if layout == "xero":
        assert [line[2] for line in lines[1:]] == ["Payer 1", "Payer 2", "Payer 3", "Stripe"]
        assert [line[4] for line in lines[1:]] == ["RT-000001", "RT-000002", "RT-000003", "RT-000003"]


def test_pending_refunds_are_left_out_until_sent():
    written, content = write([row(1), row(2, kind="refund", amount=-5_000, status="pending")])
    assert written.rows == 1
    assert len(parse(content)) == 2


@pytest.mark.parametrize(("count", "files", "sizes"), [
    (999, 1, [999]),
    (1000, 1, [1000]),
    (1001, 2, [1000, 1]),
    (2000, 2, [1000, 1000]),
    (2001, 3, [1000, 1000, 1]),
])
@pytest.mark.parametrize("layout", ["quickbooks", "xero"])
def test_more_than_1000_lines_come_as_a_zip_of_files_of_at_most_1000(layout, count, files, sizes):
    written, content = write([row(n) for n in range(count)], layout)
    assert written.rows == count and written.files == files
    found = files_of(written, content)
    if files == 1:
        assert written.mimetype == "text/csv"
    else:
        assert written.mimetype == "application/zip" and written.filename.endswith(".zip")
        assert "README.txt" in found
        readme = found.pop("README.txt").decode()
        assert BANK_LAYOUTS[layout].title in readme and "1,000" in readme
        assert sorted(found) == [f"retreat-payments_2027-03-01_to_2027-03-31_{BANK_LAYOUTS[layout].slug}"
                                 f"_part-{n:02d}.csv" for n in range(1, files + 1)]
    parsed = [parse(found[name]) for name in sorted(found)]
    header = list(BANK_LAYOUTS[layout].header)
    assert all(lines[0] == header for lines in parsed), "each file importable alone, with its header"
    assert [len(lines) - 1 for lines in parsed] == sizes
    references = [line[-1 if layout == "xero" else 1] for lines in parsed for line in lines[1:]]
    assert len(references) == count, "every movement once"


def test_a_payment_and_its_fee_stay_in_the_same_file():
    rows = [row(n) for n in range(999)] + [row(999, fee=290, provider="stripe")] + [row(1000)]
    written, content = write(rows)
    found = files_of(written, content)
    found.pop("README.txt")
    parsed = [parse(found[name]) for name in sorted(found)]
    assert [len(lines) - 1 for lines in parsed] == [999, 3]
    assert "RT-000999" in parsed[1][1][1] and "fee" in parsed[1][2][1].lower()


@pytest.mark.parametrize("layout", ["quickbooks", "xero"])
def test_bank_totals_reconcile_to_the_ledger(ledger, layout):
    """Each file's amounts add up to money in, less refunds made, less known fees: what reached the bank."""
    built = exports.build_export(LedgerFilters(date_from=MARCH[0], date_to=MARCH[1]), layout)
    lines = parse(b"".join(built.chunks))
    amount = lines[0].index("Amount")
    total = sum(Decimal(line[amount]) for line in lines[1:])
    made = [p for p in ledger.payments.values()
            if p.status == "succeeded" and date(2027, 3, 1) <= p.created_at.astimezone(UTC).date()
            <= date(2027, 3, 31)]
    assert len(lines) - 1 == len(made) + sum(1 for p in made if p.fee_cents)
    assert total * 100 == sum(p.amount_cents - (p.fee_cents or 0) for p in made)


def test_each_layout_is_a_column_spec_over_the_export_rows():
    """A layout's header and title come from its columns; each column reads the export row (a payment's line
    and its fee's line)."""
    assert BANK_LAYOUTS["quickbooks"].title == ("QuickBooks Online bank upload, 3-column layout "
                                                "(Date, Description, Amount)")
    assert BANK_LAYOUTS["xero"].title == ("Xero bank statement import "
                                          "(Date, Amount, Payee, Description, Reference)")
    payment = row(4, fee=290, provider="stripe", amount=-1_000, kind="refund")
    assert BANK_LAYOUTS["xero"].lines(payment) == [
        ("03/09/2027", "-10.00", "Payer 4",
         "Refund RT-000004 - Payer 4 - IV Week (2027-05-03) - Stripe ref_4", "RT-000004"),
        ("03/09/2027", "-2.90", "Stripe", "Stripe fee on refund RT-000004 (ref_4)", "RT-000004"),
    ]
    unknown_fee = payment._replace(payer_name="=cmd", fee_cents=None)
    assert BANK_LAYOUTS["quickbooks"].lines(unknown_fee) == [
        ("03/09/2027", "Refund RT-000004 - =cmd - IV Week (2027-05-03) - Stripe ref_4", "-10.00")]
    assert [line[2] for line in BANK_LAYOUTS["xero"].lines(unknown_fee)] == ["'=cmd"], "the payee is neutralised"
    with pytest.raises(ValueError, match="kind"):
        exports.BankColumn("Count", "integer", len, len)

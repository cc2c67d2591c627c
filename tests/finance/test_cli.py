"""`flask finance export` writes a period to a file (audited; a progress bar on large exports) and
`flask staff token create` prints a token for a finance user and refuses anyone else."""

import csv
import io
import zipfile

import openpyxl
import pytest
import sqlalchemy as sa

from retreat.core.audit import AuditEntry
from retreat.extensions import db
from retreat.staff.models import StaffApiToken
from tests.finance.support import ledger_sums

MARCH = ["--from", "2027-03-01", "--to", "2027-03-31"]


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_export_csv_to_a_file(ledger, runner, tmp_path):
    out = tmp_path / "march.csv"
    result = runner.invoke(args=["finance", "export", *MARCH, "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Wrote 5 payments (2027-03-01..2027-03-31)" in result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert len(rows) == 5
    assert sum(int(row["amount"].replace(".", "")) for row in rows) == ledger_sums(ledger)["amount"]
    assert not list(tmp_path.glob("*.part")), "no partial file left behind"
    db.session.rollback()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "finance.export"))
    assert (entry.actor_email, entry.details["via"], entry.details["rows"]) == (
        "system (command line)", "command line", 5)


def test_export_xlsx_with_a_progress_bar(ledger, runner, tmp_path):
    out = tmp_path / "march.xlsx"
    result = runner.invoke(args=["finance", "export", *MARCH, "--format", "xlsx", "--out", str(out),
                                 "--progress"])
    assert result.exit_code == 0, result.output
    assert "Exporting 5 payments" in result.output
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    assert len(rows) == 6 and round(sum(row[12] for row in rows[1:]) * 100) == ledger_sums(ledger)["amount"]


def test_export_bank_layout_says_when_it_wrote_a_zip(app, runner, tmp_path, monkeypatch):
    from retreat.finance import exports
    from tests.finance.support import make_ledger
    make_ledger()
    monkeypatch.setattr(exports, "BANK_FILE_LINES", 2)
    out = tmp_path / "march.csv"
    result = runner.invoke(args=["finance", "export", *MARCH, "--format", "quickbooks", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "as a ZIP of CSV files" in result.output and ".zip would suit it" in result.output
    assert zipfile.is_zipfile(out)


@pytest.mark.parametrize("args", [
    ["--from", "2027-03-31", "--to", "2027-03-01"],
    ["--from", "2027-02-30", "--to", "2027-03-31"],
    ["--from", "1800-01-01", "--to", "2027-03-31"],
    [*MARCH, "--format", "pdf"],
])
def test_export_refuses_bad_arguments(app, runner, tmp_path, args):
    out = tmp_path / "x.csv"
    result = runner.invoke(args=["finance", "export", *args, "--out", str(out)])
    assert result.exit_code != 0
    assert not out.exists() and not list(tmp_path.iterdir())
    assert runner.invoke(args=["finance", "export", *MARCH]).exit_code != 0, "--out is required"


def test_staff_token_create_prints_a_token_for_a_finance_user(app, runner, staff_user, client):
    user = staff_user("finance")
    result = runner.invoke(args=["staff", "token", "create", "--email", " Finance@Clinic.Example ",
                                 "--name", "Nightly sync"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("rtk_") and "\n" not in token, "standard output holds the token alone"
    assert "shown only now" in result.stderr
    db.session.rollback()
    record = db.session.scalar(sa.select(StaffApiToken))
    assert (record.user_id, record.name, record.created_by_id) == (user.id, "Nightly sync", None)
    assert token not in record.token_hash
    response = client.get("/api/v1/finance/payments?from=2027-03-01&to=2027-03-31",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.get_data().startswith(b"date,payment_id,")


@pytest.mark.parametrize(("roles", "email"), [
    (("coordinator",), "coordinator@clinic.example"),
    (("admin",), "admin@clinic.example"),
    (None, "nobody@clinic.example"),
])
def test_staff_token_create_refuses_anyone_but_finance(app, runner, staff_user, roles, email):
    if roles:
        staff_user(*roles)
    result = runner.invoke(args=["staff", "token", "create", "--email", email])
    assert result.exit_code == 1
    assert "rtk_" not in result.output
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffApiToken)) == 0

"""GET /api/v1/finance/payments: the payment ledger for accounting automation (shared/API.md, Finance).

Authenticated by a staff API token (retreat.staff.api_tokens), not by the staff session: 401 with
`WWW-Authenticate: Bearer` without a usable token, 403 when the token's user lacks the finance or admin role.
Every export is audited with the token's user. The body streams, so a long period costs no memory.
"""

import re
from datetime import date

from flask import Response, request, stream_with_context

from retreat.api import api_bp
from retreat.core.errors import ValidationFailed
from retreat.extensions import db
from retreat.finance import exports
from retreat.finance import services as finance
from retreat.staff.api_tokens import TokenRefused, require_finance_user
from retreat.web.errors import error_json

API_FORMATS = ("csv", "xlsx", "json")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@api_bp.errorhandler(TokenRefused)
def token_refused(error: TokenRefused):
    db.session.rollback()
    return error_json(error.code, error.message), error.status, {"WWW-Authenticate": 'Bearer realm="retreat"'}


def _query_filters() -> tuple[finance.LedgerFilters, str]:
    errors: dict[str, list[str]] = {}
    dates: dict[str, date] = {}
    for name in ("from", "to"):
        text = request.args.get(name, "")
        if not text:
            errors[name] = ["Missing data for required field."]
            continue
        try:
            if not _ISO_DATE.fullmatch(text):
                raise ValueError
            dates[name] = date.fromisoformat(text)
        except ValueError:
            errors[name] = ["Not a valid date: use YYYY-MM-DD."]
    export_format = request.args.get("format", "csv")
    if export_format not in API_FORMATS:
        errors["format"] = [f"Must be one of: {', '.join(API_FORMATS)}."]
    if errors:
        raise ValidationFailed(errors)
    return finance.LedgerFilters(date_from=dates["from"], date_to=dates["to"]).check(), export_format


@api_bp.get("/finance/payments")
def finance_payments():
    user = require_finance_user(request.headers.get("Authorization"))
    filters, export_format = _query_filters()
    finance.record_export(filters, export_format, finance.count_payments(filters), actor=user, via="api")
    headers = {"Cache-Control": "no-store"}
    if export_format == "json":
        chunks = exports.json_chunks(finance.iter_ledger(filters), filters)
        return Response(stream_with_context(chunks), mimetype=exports.JSON_MIMETYPE, headers=headers)
    export = exports.build_export(filters, export_format)
    headers["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return Response(stream_with_context(export.chunks), mimetype=export.mimetype, headers=headers)

"""Informed consent: the clinic's consent document as numbered versions, and the applicant's signature.

The document is a list of sections, each a title and its text. Admins write it as plain text, a section being a
line `## Title` followed by its paragraphs (a line starting `- ` is a point of a list); that text, normalised, is
the version's *canonical text*, and its sha256 is stored with the version and copied into every signature. A
version is never edited: saving makes version N+1 (audited), so a signature always names what was signed.

The applicant signs from their booking's page: their full name typed as on the booking (case and spaces aside)
and one tick per section, each required. The signature records the time, the client's address (behind the
configured proxy, as booking creation records it), the version and its hash; a PDF copy is emailed and can be
downloaded. Signing the same version twice changes nothing.

Which version a booking needs: the newest published before its cohort's first day (in the clinic's calendar).
A version published before the start asks for a new signature; one published after the start does not.
"""

import hashlib
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from retreat.arrival.consent_models import ConsentSection, ConsentSignature, ConsentVersion
from retreat.arrival.step import Step
from retreat.booking.access import manage_token
from retreat.booking.documents import clinic_identity
from retreat.booking.emails import manage_url
from retreat.booking.models import ACTIVE_STATUSES, HOLDING_STATUSES, Booking
from retreat.core import audit, clinic
from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.web.pdf import PDF_CONTENT_TYPE, render_pdf

AUDIT_PUBLISH = "consent.publish"
AUDIT_SIGN = "consent.sign"
ATTACHMENT = "consent"
SIGN_ENDPOINT = "booking.consent_page"

TITLE_MAX = 200
SECTION_TEXT_MAX = 20_000
SECTIONS_MAX = 40
NOTE_MAX = 400
NAME_MAX = 201


class ConsentNotOpen(DomainError):
    status = 409
    code = "consent_not_open"


class ConsentVersionChanged(DomainError):
    """The version shown is no longer the newest (signing), or another admin saved one first (publishing)."""

    status = 409
    code = "consent_version_changed"


# --- The text: parsing, canonical form, hash -------------------------------------------------------------------

@dataclass(frozen=True)
class Section:
    title: str
    text: str


def _clean_text(text: str) -> str:
    """NFC, new lines as \\n, no trailing spaces, at most one blank line in a row, none at the ends."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def canonical_text(sections: Collection[Section]) -> str:
    """The one text of a version: what the admin edits, what is hashed."""
    return "\n\n".join(f"## {section.title}\n\n{section.text}" for section in sections) + "\n"


def content_hash(sections: Collection[Section]) -> str:
    return hashlib.sha256(canonical_text(sections).encode("utf-8")).hexdigest()


def _control_characters(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text)


def parse_document(raw: object) -> list[Section]:
    """The sections of a text written as `## Title` lines, each followed by its text; ValidationFailed names
    `text` with what is wrong (and where)."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed({"text": ["Write the consent: each section a line “## Title”, then its text."]})
    text = _clean_text(raw)
    if _control_characters(text):
        raise ValidationFailed({"text": ["The text contains a control character; type it again as plain text."]})
    sections: list[tuple[str, list[str]]] = []
    errors: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            if not line.startswith("## ") or line.startswith("###"):
                errors.append(f"Line {number}: a section title is a line starting with “## ” (two # and a space).")
            elif len(title) > TITLE_MAX:
                errors.append(f"Line {number}: a section title can be at most {TITLE_MAX} characters.")
            sections.append((" ".join(title.split()), []))
        elif not sections:
            if line.strip():
                errors.append(f"Line {number}: start with a section title, a line such as “## Risks”.")
        else:
            sections[-1][1].append(line)
    parsed = []
    for position, (title, lines) in enumerate(sections, start=1):
        body = _clean_text("\n".join(lines))
        if not title:
            errors.append(f"Section {position} has no title after its “##”.")
        if not body:
            errors.append(f"Section {position} ({title or 'untitled'}) has a title but no text.")
        elif len(body) > SECTION_TEXT_MAX:
            errors.append(f"Section {position} ({title}) can be at most {SECTION_TEXT_MAX:,} characters.")
        parsed.append(Section(title, body))
    if len(parsed) > SECTIONS_MAX:
        errors.append(f"The consent can have at most {SECTIONS_MAX} sections (it has {len(parsed)}).")
    if errors or not parsed:
        raise ValidationFailed({"text": errors or ["Write at least one section."]})
    return parsed


def blocks(text: str) -> list[tuple[str, object]]:
    """A section's text as ("p", words) paragraphs and ("ul", [points]) lists, for the page and the PDF: a blank
    line ends a paragraph, and lines starting `- ` are the points of a list (a line before them stays a paragraph
    of its own)."""
    found: list[tuple[str, object]] = []
    for paragraph in text.split("\n\n"):
        words: list[str] = []
        points: list[str] = []
        for line in (line.strip() for line in paragraph.split("\n")):
            if line.startswith("- "):
                if words:
                    found.append(("p", " ".join(words)))
                    words = []
                points.append(line[2:].strip())
            elif line:
                if points:
                    found.append(("ul", points))
                    points = []
                words.append(line)
        if words:
            found.append(("p", " ".join(words)))
        if points:
            found.append(("ul", points))
    return found


def sections_of(version: ConsentVersion) -> list[Section]:
    return [Section(section.title, section.text) for section in version.sections]


# --- Versions --------------------------------------------------------------------------------------------------

def _versions_query():
    return sa.select(ConsentVersion).options(selectinload(ConsentVersion.sections))


def current_version() -> ConsentVersion | None:
    """The newest version, or None before any is published."""
    return db.session.scalar(_versions_query().order_by(ConsentVersion.number.desc()).limit(1))


def version_by_number(number: int) -> ConsentVersion:
    version = db.session.scalar(_versions_query().where(ConsentVersion.number == number))
    if version is None:
        raise NotFound(f"There is no consent version {number}.")
    return version


def list_versions() -> list[ConsentVersion]:
    return list(db.session.scalars(sa.select(ConsentVersion).order_by(ConsentVersion.number.desc())))


def signature_counts() -> dict[int, int]:
    """How many bookings signed each version (by version id)."""
    return dict(db.session.execute(sa.select(ConsentSignature.version_id, sa.func.count())
                                   .group_by(ConsentSignature.version_id)).all())


def publish(text: object, note: object, *, based_on: int | None = None, staff=None) -> ConsentVersion:
    """Save `text` as the next version (the older ones stay as they are); audited. `based_on` is the version the
    editor started from (None: none existed): if another was saved since, ConsentVersionChanged. ValidationFailed
    names `text` or `note`; a text the same as the newest version's is refused. One unit of work."""
    errors: dict[str, list[str]] = {}
    try:
        sections = parse_document(text)
    except ValidationFailed as refusal:
        errors.update(refusal.fields)
        sections = []
    note_text = " ".join(note.split()) if isinstance(note, str) else ""
    if not note_text:
        errors["note"] = ["Write a note: say what changed and why."]
    elif _control_characters(note_text) or len(note_text) > NOTE_MAX:
        errors["note"] = [f"Write the note as plain text of at most {NOTE_MAX} characters."]
    if errors:
        raise ValidationFailed(errors)
    digest = content_hash(sections)
    try:
        with unit_of_work():
            # PostgreSQL: lock the newest row, then look again (a new statement sees what committed while we
            # waited); two first versions at once meet at the unique number instead.
            db.session.execute(sa.select(ConsentVersion.id).order_by(ConsentVersion.number.desc()).limit(1)
                               .with_for_update())
            newest = db.session.scalar(sa.select(ConsentVersion).order_by(ConsentVersion.number.desc()).limit(1)
                                       .execution_options(populate_existing=True))
            newest_number = newest.number if newest else None
            if newest_number != based_on:
                raise _changed_since(based_on, newest_number)
            if newest is not None and newest.content_hash == digest:
                raise ValidationFailed({"text": [f"Nothing differs from version {newest.number}: change the text "
                                                 "before saving a new version."]})
            version = ConsentVersion(number=(newest_number or 0) + 1, note=note_text, content_hash=digest,
                                     created_by_id=getattr(staff, "id", None))
            version.sections = [ConsentSection(position=position, title=section.title, text=section.text)
                                for position, section in enumerate(sections, start=1)]
            db.session.add(version)
            db.session.flush()
            audit.record(AUDIT_PUBLISH, "consent_version", version.number, {
                "note": note_text, "sha256": digest, "sections": [section.title for section in sections],
                "previous_version": newest_number}, actor=staff)
    except IntegrityError:  # another admin's version N+1 committed between our check and insert (PostgreSQL)
        raise _changed_since(based_on, None) from None
    return version


def _changed_since(based_on: int | None, newest: int | None) -> ConsentVersionChanged:
    saved = f"Version {newest}" if newest else "A newer version"
    started = f"you started from version {based_on}" if based_on else "you started with no version"
    return ConsentVersionChanged(f"{saved} of the consent was saved after you opened this form ({started}). "
                                 "Nothing was saved: reload the form to edit the newest text.")


def ensure_consent(text: str, note: str) -> ConsentVersion | None:
    """Publish `text` as version 1 when there is no version yet (the demo data, `flask consent init`); None when
    one exists already."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(ConsentVersion)):
        return None
    return publish(text, note, based_on=None, staff="system (consent init)")


# --- A booking's consent ---------------------------------------------------------------------------------------

def _cohort_starts_at(booking: Booking) -> datetime:
    start: date = booking.cohort.start_date
    return datetime.combine(start, time(0), tzinfo=clinic.clinic_zone()).astimezone(UTC)


def signatures_of(booking: Booking) -> list[ConsentSignature]:
    """The booking's signatures, newest version first."""
    return list(db.session.scalars(
        sa.select(ConsentSignature).join(ConsentVersion).options(selectinload(ConsentSignature.version))
        .where(ConsentSignature.booking_id == booking.id).order_by(ConsentVersion.number.desc())))


@dataclass(frozen=True)
class ConsentState:
    current: ConsentVersion | None  # the newest version
    required: ConsentVersion | None  # the version this booking must have signed (or a later one)
    signature: ConsentSignature | None  # the booking's signature of the newest version it signed

    @property
    def done(self) -> bool:
        return self.required is not None and self.signature is not None and \
            self.signature.version.number >= self.required.number

    @property
    def resign(self) -> bool:
        """Signed before, and a newer version asks for a new signature."""
        return self.signature is not None and not self.done

    @property
    def newer_after_start(self) -> bool:
        """Done, and a version published after the start is newer than the one signed (no signature asked)."""
        return self.done and self.current is not None and self.current.number > self.signature.version.number


def state_of(booking: Booking) -> ConsentState:
    current = current_version()
    required = None
    if current is not None:
        required = db.session.scalar(
            _versions_query().where(ConsentVersion.created_at < _cohort_starts_at(booking))
            .order_by(ConsentVersion.number.desc()).limit(1)) or current
    signatures = signatures_of(booking)
    return ConsentState(current, required, signatures[0] if signatures else None)


def is_open(booking: Booking) -> bool:
    """Consent is signed for a booking that holds or has its seat (not cancelled, declined, expired or lapsed)."""
    if booking.status not in ACTIVE_STATUSES:
        return False
    return not (booking.status in HOLDING_STATUSES and booking.hold_expires_at is not None
                and booking.hold_expires_at <= now())


def changed_titles(old: ConsentVersion, new: ConsentVersion) -> dict[str, str]:
    """The sections of `new` that differ from `old`: title -> "new" or "changed"."""
    before = {section.title: section.text for section in old.sections}
    return {section.title: "new" if section.title not in before else "changed"
            for section in new.sections if before.get(section.title) != section.text}


def same_name(typed: str, booking: Booking) -> bool:
    def key(name: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()
    return key(typed) == key(booking.applicant_name)


def check_signature(booking: Booking, version: ConsentVersion, full_name: object,
                    ticked: Collection[int]) -> str:
    """The name as typed, tidied; ValidationFailed names `full_name` and each `section_<position>` not ticked."""
    errors: dict[str, list[str]] = {}
    name = " ".join(full_name.split()) if isinstance(full_name, str) else ""
    if not name:
        errors["full_name"] = ["Type your full name to sign."]
    elif len(name) > NAME_MAX or not same_name(name, booking):
        errors["full_name"] = [f"Type your full name as it is on your booking ({booking.applicant_name}); "
                               f"if it is wrong there, {clinic.contact_words()}."]
    for section in version.sections:
        if section.position not in ticked:
            errors[f"section_{section.position}"] = [f"Tick the box to confirm you have read “{section.title}”."]
    if errors:
        raise ValidationFailed(errors)
    return name


def sign(booking: Booking, *, version_number: object, full_name: object, ticked: Collection[int],
         client_address: str | None) -> tuple[ConsentSignature, bool]:
    """Sign the newest version for `booking`: (the signature, whether it is new). Signing a version again returns
    the first signature and changes nothing. Refused (409) for a booking that is not held or confirmed, or when
    the version shown is no longer the newest; ValidationFailed for the name and ticks. One unit of work; the
    signed copy (PDF) is emailed after it commits."""
    if not is_open(booking):
        raise ConsentNotOpen("Consent is signed for a booking that is held or confirmed; this booking is not. "
                             f"If you think this is wrong, {clinic.contact_words()}.")
    version = current_version()
    if version is None:
        raise ConsentNotOpen(f"The clinic has not published its consent form yet. Please {clinic.contact_words()}.")
    if version_number != version.number:
        raise ConsentVersionChanged(f"The clinic published a new version of the consent (version {version.number}) "
                                    "while you were reading. Nothing was signed: please read it and sign again.")
    name = check_signature(booking, version, full_name, ticked)
    with unit_of_work():
        # PostgreSQL: one signer per booking at a time (a double click waits, then finds the first signature).
        booking = db.session.scalar(sa.select(Booking).where(Booking.id == booking.id).with_for_update()
                                    .execution_options(populate_existing=True))
        if not is_open(booking):
            raise ConsentNotOpen("This booking is no longer held or confirmed: nothing was signed.")
        existing = db.session.scalar(sa.select(ConsentSignature).where(
            ConsentSignature.booking_id == booking.id, ConsentSignature.version_id == version.id))
        if existing is not None:
            return existing, False
        signature = ConsentSignature(booking_id=booking.id, version_id=version.id, signed_name=name,
                                     signed_at=now(), client_address=(client_address or None) and client_address[:64],
                                     version_hash=version.content_hash)
        signature.version = version
        db.session.add(signature)
        db.session.flush()
        audit.record(AUDIT_SIGN, "booking", booking.reference, {"version": version.number,
                                                                "sha256": version.content_hash}, actor="applicant")
        notify.enqueue("consent_signed", booking.applicant_email, *signed_email(booking, signature),
                       attachment=f"{ATTACHMENT}:{signature.id}")
    return signature, True


def signed_email(booking: Booking, signature: ConsentSignature) -> tuple[str, str]:
    """(subject, body) of the email carrying the signed copy."""
    cohort = booking.cohort
    first = booking.applicant_first_name
    body = (f"{'Dear ' + first + ',' if first else 'Hello,'}\n\n"
            f"Thank you for signing the informed consent (version {signature.version.number}) for "
            f"{cohort.program.name}, {cohort.start_date:%A %-d %B %Y} to {cohort.end_date:%A %-d %B %Y} "
            f"(booking {booking.reference}), on {clinic.clinic_time(signature.signed_at)}. Your signed copy is "
            "attached as a PDF; you can download it again from your booking's page:\n"
            f"{manage_url(manage_token(booking))}\nKeep this link to yourself: anyone with it can manage your "
            "booking.\n\nYou may withdraw your consent at any time before or during your program: tell your "
            f"clinician or {clinic.contact_words()}.\n\nWith warm regards,\nThe team at {notify.clinic_name()}\n\n"
            f"{notify.clinic_contact()}\n\nIf you are struggling right now: call or text 988 (Suicide & Crisis "
            "Lifeline, US). In immediate danger, call 911 or go to the nearest emergency room.\n")
    return f"{notify.clinic_name()}: your signed consent ({booking.reference})", body


# --- The signed copy -------------------------------------------------------------------------------------------

def filename(signature: ConsentSignature, booking: Booking) -> str:
    return f"consent-{booking.reference}-v{signature.version.number}.pdf"


def consent_pdf(booking: Booking, signature: ConsentSignature) -> bytes:
    version = signature.version
    return render_pdf("documents/consent.html", booking=booking, cohort=booking.cohort,
                      program=booking.cohort.program, clinic=clinic_identity(), version=version,
                      sections=[(section, blocks(section.text)) for section in version.sections],
                      signature=signature, statement={"issued_on": clinic.clinic_date(now())})


def _make_attachment(key: str) -> tuple[str, str, bytes]:
    """The signed copy an email names ("consent:<signature id>"), made as the email is sent."""
    signature = db.session.get(ConsentSignature, int(key)) if key.isdigit() else None
    if signature is None or signature.signed_name is None:
        raise NotFound("This signed consent is no longer held.")
    booking = db.session.get(Booking, signature.booking_id)
    return filename(signature, booking), PDF_CONTENT_TYPE, consent_pdf(booking, signature)


notify.register_attachment(ATTACHMENT, _make_attachment)


# --- The checklist, the applicant's data, the staff's view -----------------------------------------------------

def checklist_step(booking: Booking) -> Step | None:
    """The consent step of the arrival checklist; None for a booking that is not held or confirmed."""
    if booking.status not in ACTIVE_STATUSES:
        return None
    state = state_of(booking)
    label = "Sign the informed consent"
    if state.current is None:
        return Step("consent", label, False, "The clinic has not published its consent form yet.", None,
                    staff_label="Consent")
    if state.done:
        return Step("consent", label, True, "", SIGN_ENDPOINT, staff_label="Consent")
    if state.resign:
        return Step("consent", label, False, f"The clinic published a new version (version "
                    f"{state.required.number}) since you signed: please read it and sign again.", SIGN_ENDPOINT,
                    staff_label="Consent")
    return Step("consent", label, False, "Read the consent and sign it with your name.", SIGN_ENDPOINT,
                staff_label="Consent")


def personal_data(booking: Booking) -> list[dict]:
    """The booking's signatures, for the applicant's data export."""
    return [{"version": signature.version.number, "signed_name": signature.signed_name,
             "signed_at": signature.signed_at.isoformat(), "client_address": signature.client_address,
             "version_sha256": signature.version_hash}
            for signature in signatures_of(booking)]


def erase_personal_data(booking: Booking) -> None:
    """Empty the typed names and addresses of the booking's signatures; which version was signed, when, and its
    hash stay (the clinic's record that consent was given). Flushes only."""
    db.session.execute(sa.update(ConsentSignature).where(ConsentSignature.booking_id == booking.id)
                       .values(signed_name=None, client_address=None))
    db.session.flush()


def staff_summary(booking: Booking) -> str:
    """One line for the staff booking page: "Signed version 3 on …", or what is missing."""
    state = state_of(booking)
    if state.current is None:
        return "No consent form published yet."
    signed = (f"Signed version {state.signature.version.number} on {clinic.clinic_time(state.signature.signed_at)}"
              if state.signature else "")
    if state.done:
        return signed + "."
    if state.resign:
        return f"{signed}; version {state.required.number} is to be signed."
    return "Not signed yet."


"""PDF documents (receipts, superbills) rendered from the app's own Jinja templates with WeasyPrint.

The templates carry their styles inline and load nothing: the fetcher given to WeasyPrint refuses every URL, so
a name or code typed by someone can never make the server fetch anything while a document renders. Fonts come
from the system (fonts-dejavu-core, `make system-deps`). WeasyPrint is imported on first use: most processes
never render a PDF.
"""

from flask import render_template

PDF_CONTENT_TYPE = "application/pdf"


class FetchRefused(ValueError):
    """A document asked for a URL while rendering; documents load nothing."""


def _refuse(url: str, *args, **kwargs):
    raise FetchRefused(f"Documents load nothing while rendering (asked for {url[:80]!r}).")


def _fetcher():
    import weasyprint

    base = getattr(weasyprint, "URLFetcher", None)
    if base is None:  # WeasyPrint before 67 takes a plain function
        return _refuse

    class RefuseEverything(base):
        def fetch(self, url, headers=None):
            _refuse(url)

    return RefuseEverything()


def render_pdf(template: str, **context) -> bytes:
    """The template rendered as a PDF document."""
    import weasyprint

    html = render_template(template, **context)
    return weasyprint.HTML(string=html, base_url="about:blank", url_fetcher=_fetcher()).write_pdf()

import pytest

from tests.finance.support import make_ledger


@pytest.fixture
def ledger(app):
    """The ledger of tests/finance/support.py: known figures for March 2027."""
    return make_ledger()

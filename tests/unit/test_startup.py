"""An API entry imports without the cyclic collector, and turns it back on once imported."""

import gc
import importlib

import pytest


@pytest.mark.parametrize(
    "entry", ["services.products.handler", "services.users.handler", "services.orders.handler"]
)
def test_collection_is_on_again_once_an_entry_is_imported(entry):
    importlib.import_module(entry)

    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # what the entry loaded is left out of every pass

"""An API entry imports without the cyclic collector, once per process, and turns it back on."""

import json
import subprocess
import sys
import textwrap

import pytest


def run(code: str) -> str:
    """`code` in a fresh interpreter, as Lambda's cold start runs an entry; its printed output."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": ""},
    )
    return done.stdout.strip()


PASSES = """
    import gc
    passes = []
    gc.callbacks.append(lambda phase, info: phase == "start" and passes.append(1))
    import {module}
    print(gc.isenabled(), gc.get_freeze_count(), len(passes))
"""


@pytest.mark.parametrize(
    ("entry", "plain"),
    [
        ("services.products.handler", "services.products.app"),
        ("services.users.handler", "services.users.app"),
        ("services.orders.handler", "services.orders.app"),
        ("services.orders.worker", "services.orders.wiring"),
        ("services.orders.relay", "services.orders.wiring"),
        ("services.orders.steps", "services.orders.wiring"),
    ],
)
def test_an_entry_imports_without_collection_then_freezes_what_it_loaded(entry, plain):
    enabled, frozen, passes = run(PASSES.format(module=entry)).split()
    # Most of the same modules imported without an entry: the collector runs over and over.
    _, plain_frozen, plain_passes = run(PASSES.format(module=plain)).split()

    assert enabled == "True"
    assert int(frozen) > 100_000
    assert plain_frozen == "0"
    assert int(plain_passes) > 50
    assert int(passes) * 5 < int(plain_passes)


def test_only_the_first_entry_of_a_process_changes_anything():
    out = run(
        """
        import gc
        from services.common.startup import importing
        with importing():
            import json
        frozen = gc.get_freeze_count()
        with importing():
            inside = gc.isenabled()
            import decimal
        print(inside, gc.get_freeze_count() == frozen)
        """
    )

    assert out == "True True"


def test_collection_comes_back_when_an_import_fails_and_stays_off_if_it_was_off():
    out = run(
        """
        import gc
        from services.common.startup import importing
        try:
            with importing():
                import no_such_module_here
        except ImportError:
            pass
        first = gc.isenabled()
        print(first)
        """
    )
    off = run(
        """
        import gc
        gc.disable()
        from services.common.startup import importing
        with importing():
            import json
        print(gc.isenabled())
        """
    )

    assert (out, off) == ("True", "False")


REQUEST_MODELS = """
    import json
    from services.common import openapi
    import {module}

    def built():
        return sorted(
            (model.__name__, model.__pydantic_complete__)
            for arguments in openapi.PENDING.values()
            for model in (arguments["query"], arguments["json"], arguments["headers"])
            if model is not None
        )

    before = built()
    openapi.build_request_models()
    print(json.dumps([before, built()]))
"""


@pytest.mark.parametrize(
    "entry", ["services.products.handler", "services.users.handler", "services.orders.handler"]
)
def test_request_models_are_built_on_demand_and_all_at_once_for_a_snapshot(entry: str) -> None:
    """A cold start serves one route: importing an API entry builds no request validator, and
    `build_request_models` (SnapStart's before-snapshot hook) builds every one."""
    before, after = json.loads(run(REQUEST_MODELS.format(module=entry)))

    assert before, "the entry's views record their request models"
    assert not any(complete for _, complete in before)
    assert [name for name, _ in after] == [name for name, _ in before]
    assert all(complete for _, complete in after)

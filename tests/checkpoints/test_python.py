"""What only Python checkpoints do: modules, dill, IPython's own names, data frames."""

from __future__ import annotations

from pathlib import Path

import pytest

from beaker_kernel.checkpoints import CheckpointStore

from .conftest import Subkernel


@pytest.fixture
def py(python: Subkernel) -> Subkernel:
    python.reset()
    return python


@pytest.fixture
def store(py: Subkernel, tmp_path: Path) -> CheckpointStore:
    return CheckpointStore(py.evaluate, "python3", directory=str(tmp_path / "checkpoints"))


async def test_modules_are_imported_again_not_saved(py: Subkernel, store: CheckpointStore) -> None:
    py.run("import json as js\nimport os.path\nfrom collections import abc")
    checkpoint = await store.add()
    assert checkpoint.modules == {"js": "json", "os": "os", "abc": "collections.abc"}
    assert {"js", "os", "abc"} <= set(checkpoint.saved)
    assert checkpoint.files == {}  # nothing pickled

    py.run("del js\nos = 5\nimport math")
    report = await store.rollback(checkpoint.index)

    assert py.value("print(js.dumps([js.__name__, os.__name__, abc.__name__]))") == [
        "json",
        "os",
        "collections.abc",
    ]
    assert report.removed == ["math"]
    assert {"js", "os", "abc"} <= set(report.restored)


async def test_functions_and_classes_of_the_session_are_saved_with_dill(
    py: Subkernel, store: CheckpointStore
) -> None:
    has_dill = py.run("import importlib.util as _u\nprint(_u.find_spec('dill') is not None)")
    assert has_dill == "True\n", "dill (a test dependency) is not installed for the kernel"
    py.run(
        "def bump(x):\n    return x + 1\n"
        "class Point:\n    def __init__(self, x):\n        self.x = x\n"
        "square = lambda v: v * v\n"
        "p = Point(3)"
    )
    checkpoint = await store.add()
    assert {"bump", "Point", "square", "p"} <= set(checkpoint.saved)
    assert checkpoint.files["bump"].endswith(".dill")
    assert checkpoint.files["p"].endswith(".dill")  # an instance of a session class

    py.run("def bump(x):\n    return x + 100\ndel Point, square\np = None")
    report = await store.rollback(checkpoint.index)

    assert report.unrestorable == {}
    assert py.run("print(bump(1), square(4), p.x, type(p).__name__)") == "2 16 3 Point\n"


async def test_without_dill_functions_of_the_session_are_reported(
    py: Subkernel, store: CheckpointStore
) -> None:
    # A None entry in sys.modules makes `import dill` fail, as if it were not installed.
    py.run("import sys as _sys\n_dill = _sys.modules.get('dill')\n_sys.modules['dill'] = None")
    try:
        py.run("def helper():\n    return 1\nclass Thing:\n    pass\nfrom math import sqrt\nn = 4")
        checkpoint = await store.add()
        assert set(checkpoint.skipped) == {"helper", "Thing"}
        assert "function defined in this session" in checkpoint.skipped["helper"]
        assert "class defined in this session" in checkpoint.skipped["Thing"]
        assert "install dill" in checkpoint.skipped["helper"]
        assert {"n", "sqrt"} <= set(checkpoint.saved)  # a builtin function pickles by name

        py.run("n = 5\ndef helper():\n    return 2")
        report = await store.rollback(checkpoint.index)
        assert py.run("print(n, helper(), sqrt(n))") == "4 2 2.0\n"
        assert set(report.unrestorable) == {"helper", "Thing"}
    finally:
        py.run(
            "if _dill is None:\n    del _sys.modules['dill']\n"
            "else:\n    _sys.modules['dill'] = _dill"
        )


async def test_ipython_names_and_private_names_are_left_alone(
    py: Subkernel, store: CheckpointStore
) -> None:
    py.run("1 + 1")
    py.run("kept = 1\n_private = 'mine'")
    checkpoint = await store.add()
    assert checkpoint.saved == ["kept"]
    assert checkpoint.skipped == {}

    py.run("_later = 2\nkept = 3")
    report = await store.rollback(checkpoint.index)

    assert report.removed == []
    assert py.run("print(kept, _private, _later, len(In) > 0)") == "1 mine 2 True\n"


async def test_sockets_are_reported_and_printing_objects_do_not_break_the_report(
    py: Subkernel, store: CheckpointStore
) -> None:
    py.run(
        "import socket\nconn = socket.socket()\n"
        "class Noisy:\n"
        "    def __reduce__(self):\n"
        "        print('saving Noisy')\n"
        "        return (Noisy, ())\n"
        "noisy = Noisy()\n"
        "pair = [1, conn]"
    )
    try:
        checkpoint = await store.add()
        assert "noisy" in checkpoint.saved
        assert set(checkpoint.skipped) == {"conn", "pair"}
        assert "an open socket" in checkpoint.skipped["conn"]
        assert "cannot save an open socket" in checkpoint.skipped["pair"]
        py.run("noisy = 0")
        await store.rollback(checkpoint.index)
        assert py.run("print(type(noisy).__name__, conn.fileno() > 0)") == "Noisy True\n"
    finally:
        py.run("conn.close()")


async def test_a_data_frame_comes_back_equal(py: Subkernel, store: CheckpointStore) -> None:
    py.run(
        "import pandas as pd\n"
        "df = pd.DataFrame({'city': ['Lagos', 'Lima'], 'population': [15388000, 10719000]})\n"
        "original = df.copy()"
    )
    checkpoint = await store.add()
    py.run("df.loc[0, 'population'] = 0\ndf['extra'] = 1\ndel original")
    await store.rollback(checkpoint.index)
    assert py.run("print(df.equals(original), list(df.columns))") == (
        "True ['city', 'population']\n"
    )

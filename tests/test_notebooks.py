"""Run every notebook in ``notebooks/`` top to bottom, and keep them stored without outputs.

Running them is marked ``slow`` (about 20 s for all four); the check that they are stored
without outputs is quick and always runs.

The kernel: nbclient would look up the kernel spec ``python3``, which resolves to whatever
Jupyter finds first on the machine (a user-level ``~/.local/share/jupyter/kernels/python3`` of
another Python would win over the venv's). So the test writes its own kernel spec into a
temporary folder, with ``argv`` starting with ``sys.executable`` (the Python running pytest,
i.e. ``.venv/bin/python``), and hands nbclient a ``KernelManager`` that reads specs from that
folder only. The notebooks thus always run on the project's installed package and the
ipykernel of the venv. The working directory of the kernel is ``notebooks/``, as in Jupyter,
so the notebooks' relative paths (``../data/...``) work.

The kernel inherits this process's environment, including the network cache folder that
``conftest.py`` points at a temporary directory.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the 'test' extra")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
KERNEL_NAME = "service-coverage-test"
CELL_TIMEOUT_S = 120
#: The whole notebook; all four together should take well under two minutes.
NOTEBOOK_BUDGET_S = 90


def test_there_are_notebooks() -> None:
    assert [p.name for p in PATHS] == [
        "01-quickstart.ipynb",
        "02-bring-your-own-data.ipynb",
        "03-what-if.ipynb",
        "04-isochrones.ipynb",
    ]


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernel spec folder whose only kernel runs on this very Python."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / KERNEL_NAME
    spec.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "service-coverage (tests)", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs(path: Path, kernel_dir: Path) -> None:
    nbclient = pytest.importorskip("nbclient", reason="nbclient is in the 'test' extra")
    pytest.importorskip("ipykernel", reason="ipykernel is in the 'test' extra")
    pytest.importorskip("matplotlib", reason="matplotlib is in the 'test' extra (.plot)")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    nb = nbformat.read(path, as_version=4)
    km = KernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]),
    )
    assert km.kernel_spec is not None
    assert km.kernel_spec.argv[0] == sys.executable
    client = nbclient.NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    started = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}")
    elapsed = time.perf_counter() - started
    errors = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "error"
    ]
    assert not errors, f"{path.name}: {errors}"
    assert elapsed < NOTEBOOK_BUDGET_S, f"{path.name} took {elapsed:.0f} s"

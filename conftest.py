"""Whole-suite guard: no test may leave files in the repository's top folder (a step run
without ``save_results=False`` writes its product into the current directory)."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session", autouse=True)
def no_products_left_in_the_repository():
    before = {p.name for p in ROOT.iterdir()}
    yield
    left = sorted({p.name for p in ROOT.iterdir()} - before - {".pytest_cache"})
    assert not left, f"tests wrote {left} into {ROOT}: run steps with save_results=False or an output_dir"

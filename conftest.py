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


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory):
    """The folder of a complete demo run (``webbcal.demo.run_demo``), made once per run and
    only read by the tests. With ``WEBBCAL_DEMO_CACHE`` set (scripts/test.sh sets it for
    both of its environments), the demo is made there once and the official-tools
    environment reads the same products -- files webbcal wrote beside another asdf."""
    import os

    from webbcal.demo import run_demo

    cache = os.environ.get("WEBBCAL_DEMO_CACHE")
    out = Path(cache) / "demo" if cache else tmp_path_factory.mktemp("demo")
    done = out / ".complete"
    if not done.is_file():
        out.mkdir(parents=True, exist_ok=True)
        assert run_demo(out) == 0
        done.write_text("demo complete\n")
    return out

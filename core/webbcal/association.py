"""Associations: the official JSON format of a set of exposures, and running a stage-2
pipeline over its members.

An association (``jw..._asn.json``) holds ``asn_type``, ``asn_pool``, ``asn_id`` and a
list of ``products``, each with a ``name`` and ``members``: ``expname`` (a file name,
relative to the association's folder) and ``exptype`` (``science``, ``background``,
...). :func:`read_association` reads and checks it; :func:`run_members` runs a step or
pipeline on every science member, one after the other, so that one bad member (a
truncated file, a missing reference) does not stop the others: every good product is
written, and the returned rows say, per member, what was written or what went wrong.

A product's background members are handed to the pipeline, which subtracts their mean
before its recipe (:mod:`webbcal.steps.background`); for a nodded pair the association
lists each nod as the other's background member. A product-level pipeline (spec3) runs
per product instead (:func:`run_products`): the science members together make the
product. With ``jobs`` or ``scheduler`` the members (or products) run in parallel on
Dask (an optional extra, ``webbcal[dask]``): a local cluster of processes, or an existing
cluster.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .errors import InputFileError, WebbcalError

log = logging.getLogger("webbcal.association")

__all__ = ["Member", "Product", "Association", "read_association", "is_association", "run_members",
           "run_products", "summary_table", "files_association", "StepFactory"]


@dataclass
class Member:
    """One exposure of an association product: its file (resolved against the
    association's folder) and its role (``science``, ``background``, ...)."""

    expname: str
    exptype: str
    path: Path


@dataclass
class Product:
    """An association product: its name and members."""

    name: str
    members: list = field(default_factory=list)

    def science(self) -> list:
        """The science members, in the association's order."""
        return [m for m in self.members if m.exptype == "science"]


@dataclass
class Association:
    """An association read from its JSON file."""

    path: Path
    asn_type: str
    asn_pool: str
    asn_id: str
    products: list


def is_association(path: Any) -> bool:
    """Whether ``path`` names a JSON file (an association, not a FITS product)."""
    return isinstance(path, (str, Path)) and str(path).lower().endswith(".json")


def read_association(path: str | Path) -> Association:
    """Read an association (the official JSON layout).

    Raises
    ------
    InputFileError
        Not JSON, no ``products`` list, or a product / member without its keys.
    """
    path = Path(path)
    try:
        tree = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputFileError(path, "no such association file") from None
    except (OSError, ValueError) as exc:
        raise InputFileError(path, f"is not a readable JSON association ({exc})") from None
    if not isinstance(tree, dict) or not isinstance(tree.get("products"), list) or not tree["products"]:
        raise InputFileError(path, "an association needs a 'products' list (each with a name and members)")
    products = []
    for i, p in enumerate(tree["products"]):
        if not isinstance(p, dict) or not isinstance(p.get("members"), list):
            raise InputFileError(path, f"products[{i}] has no 'members' list")
        members = []
        for j, m in enumerate(p["members"]):
            if not isinstance(m, dict) or not m.get("expname"):
                raise InputFileError(path, f"products[{i}].members[{j}] has no 'expname'")
            exptype = str(m.get("exptype") or "science").strip().lower()
            members.append(Member(str(m["expname"]), exptype, (path.parent / str(m["expname"])).resolve()))
        products.append(Product(str(p.get("name") or f"product{i + 1}"), members))
    return Association(path, str(tree.get("asn_type") or ""), str(tree.get("asn_pool") or ""),
                       str(tree.get("asn_id") or ""), products)


@dataclass
class MemberResult:
    """What running one member gave: ``status`` ``ok`` or ``failed``, the files written or
    the error, the seconds spent."""

    product: str
    member: str
    status: str
    outputs: list = field(default_factory=list)
    error: Optional[str] = None
    seconds: float = 0.0


def run_members(association: Association, make_step, jobs=None, scheduler=None, progress=None) -> list:
    """Run a step on every science member of every product; a pipeline gets the product's
    background members as its ``background`` parameter (their mean is subtracted first).

    Parameters
    ----------
    association : Association
        From :func:`read_association`.
    make_step : callable
        ``make_step() -> Step``: a fresh, configured step or pipeline for each member (it
        is sent to the Dask workers when running in parallel).
    jobs : int, optional
        Run the members on a local Dask cluster of this many processes.
    scheduler : str, optional
        Run them on the existing Dask cluster at this address.
    progress : callable, optional
        ``progress(done, total, result)`` after each member.

    Returns
    -------
    list of MemberResult
        One per science member, in the association's order. A member that fails (a
        :class:`~webbcal.errors.WebbcalError`, a missing file, or any other error) is
        recorded and the others still run.
    """
    tasks = []
    for product in association.products:
        backgrounds = [m for m in product.members if m.exptype == "background"]
        skipped = [m.expname for m in product.members if m.exptype not in ("science", "background")]
        if skipped:
            log.warning("%s: product %s: members %s (%s) are not used by this step yet", association.path.name,
                        product.name, ", ".join(skipped),
                        ", ".join(sorted({m.exptype for m in product.members if m.exptype not in ('science', 'background')})))
        for member in product.science():
            tasks.append((product.name, member, backgrounds))
    calls = [(_run_one, (make_step, name, member, backgrounds, association.path))
             for name, member, backgrounds in tasks]
    return _execute(calls, jobs, scheduler, progress)


def run_products(association: Association, make_step, jobs=None, scheduler=None, progress=None) -> list:
    """Run a product-level pipeline (spec3) on every product of an association: each
    product's science members together give one product (``step.run_product``).

    Parameters and parallel options as :func:`run_members`. Returns the rows of
    :func:`summary_table`: per product, one row for each member left out (``failed``)
    and one for the product itself (``ok`` with its files, or ``failed``).
    """
    calls = [(_run_product, (make_step, product)) for product in association.products]
    rows = []
    for out in _execute(calls, jobs, scheduler, progress):
        rows.extend(out)
    return rows


def _execute(calls, jobs=None, scheduler=None, progress=None):
    """``[f(*args) for f, args in calls]``, serially or on Dask; ``progress(done, total,
    result)`` after each (a product's result is a list of rows: its last row reports)."""
    total = len(calls)

    def report(k, result):
        if progress:
            progress(k, total, result[-1] if isinstance(result, list) else result)

    if not (jobs and int(jobs) > 1) and not scheduler:
        out = []
        for k, (func, args) in enumerate(calls):
            out.append(func(*args))
            report(k + 1, out[-1])
        return out
    client, cluster = _client(jobs, scheduler)
    try:
        from dask.distributed import as_completed

        futures = [client.submit(func, *args, pure=False) for func, args in calls]
        index = {f.key: i for i, f in enumerate(futures)}
        out = [None] * total
        for k, fut in enumerate(as_completed(futures)):
            out[index[fut.key]] = fut.result()
            report(k + 1, out[index[fut.key]])
        return out
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run_product(make_step, product):
    """One product of a product-level pipeline; its rows (members left out, then the
    product)."""
    t0 = time.perf_counter()
    rows = []
    try:
        step = make_step()
        step.saved = []
        step.member_failures = []
        try:
            step.run_product(product)
        finally:
            for prod, member, error in getattr(step, "member_failures", []):
                rows.append(MemberResult(prod, member, "failed", error=error))
        outputs = [str(p) for p in (getattr(step, "saved", None) or []) if p]
        rows.append(MemberResult(product.name, f"({len(product.science())} members)", "ok", outputs,
                                 seconds=time.perf_counter() - t0))
    except WebbcalError as exc:
        log.error("%s: %s", product.name, exc)
        rows.append(MemberResult(product.name, f"({len(product.science())} members)", "failed", error=str(exc),
                                 seconds=time.perf_counter() - t0))
    except Exception as exc:   # a bug in one product must not stop the others
        log.error("%s: internal error %s: %s", product.name, type(exc).__name__, exc)
        rows.append(MemberResult(product.name, f"({len(product.science())} members)", "failed",
                                 error=f"internal error: {type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0))
    return rows


def _run_one(make_step, product_name, member, backgrounds, association_path):
    """Run one science member (in this process or on a Dask worker); a MemberResult."""
    t0 = time.perf_counter()
    try:
        if not member.path.is_file():
            raise InputFileError(member.path, "association member not found (paths are relative to the "
                                              "association's folder)")
        step = make_step()
        if backgrounds:
            missing = [b for b in backgrounds if not b.path.is_file()]
            if missing:
                raise InputFileError(missing[0].path, "background member not found")
            if "background" not in step.full_spec():
                raise InputFileError(association_path, f"step {step.name} does not subtract background members "
                                                       "(run a pipeline: spec2, image2)")
            step.set("background", [str(b.path) for b in backgrounds])
        step.run(str(member.path))
        outputs = [str(p) for p in (getattr(step, "saved", None) or []) if p]
        return MemberResult(product_name, member.expname, "ok", outputs, seconds=time.perf_counter() - t0)
    except WebbcalError as exc:
        log.error("%s: %s", member.expname, exc)
        return MemberResult(product_name, member.expname, "failed", error=str(exc), seconds=time.perf_counter() - t0)
    except Exception as exc:   # a bug or an OS error in one member must not stop the others
        log.error("%s: internal error %s: %s", member.expname, type(exc).__name__, exc)
        return MemberResult(product_name, member.expname, "failed", error=f"internal error: {type(exc).__name__}: {exc}",
                            seconds=time.perf_counter() - t0)


def _client(jobs=None, scheduler=None):
    """A dask.distributed Client: on the cluster at ``scheduler``, or on a local cluster of
    ``jobs`` processes (one thread each).

    Raises
    ------
    WebbcalError
        Dask is not installed (the message says how to install it).
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise WebbcalError("running members in parallel (--jobs / --scheduler) needs Dask: "
                           "pip install 'webbcal[dask]'") from None
    if scheduler:
        return Client(scheduler), None
    import dask

    method = os.environ.get("WEBBCAL_DASK_START") or ("fork" if sys.platform.startswith("linux") else "spawn")
    # fork (Linux): the workers start as copies of this process, webbcal, its plugins and
    # their references already loaded -- 0.1 s instead of ~2.5 s of start-up and imports
    # per cluster, which on a small association costs more than the parallel run saves
    if method == "fork":
        import gc

        gc.freeze()   # the inherited objects stay out of the children's collections (no copy-on-write storm)
    try:
        with dask.config.set({"distributed.worker.multiprocessing-method": method}):
            cluster = LocalCluster(n_workers=int(jobs), threads_per_worker=1, processes=True, dashboard_address=None)
    finally:
        if method == "fork":
            gc.unfreeze()
    return Client(cluster), cluster


def summary_table(results: list) -> str:
    """A plain-text table of :func:`run_members`' results, one line per member."""
    rows = [("product", "member", "status", "seconds", "outputs / error")]
    for r in results:
        rows.append((r.product, r.member, r.status, f"{r.seconds:.1f}",
                     ", ".join(Path(p).name for p in r.outputs) if r.status == "ok" else (r.error or "")))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    return "\n".join(lines)


def files_association(files):
    """An association of separate exposures: one product per file, named after it."""
    from .pipeline.step import root_name

    products = [Product(root_name(f), [Member(Path(f).name, "science", Path(f).resolve())]) for f in files]
    return Association(Path(files[0]).resolve().parent / "command_line_asn.json", "list", "", "", products)


class StepFactory:
    """A configured step or pipeline, made afresh for each association member (picklable,
    so that Dask workers can make it too)."""

    def __init__(self, cls, config, params):
        self.cls, self.config, self.params = cls, config, dict(params)

    def __call__(self):
        step = self.cls(config_file=self.config, **{k: v for k, v in self.params.items() if not k.startswith("steps.")})
        for key, value in self.params.items():
            if key.startswith("steps."):
                step.set(key, value)
        return step

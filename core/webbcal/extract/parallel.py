"""Chunks of integrations processed on several threads.

Extraction of a time series is a loop over chunks of integrations whose results go to
disjoint rows of the outputs, so chunks can run concurrently: numpy releases the GIL
inside its array loops, and optimal extraction is compute-bound (many short passes over
each chunk).  :func:`map_chunks` runs a function over the chunks on a thread pool and
hands back the results in chunk order, so what the caller does with them (writing
outputs, progress reports) happens in one thread and in order.  Results do not depend
on the number of threads: every chunk is computed the same way.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

__all__ = ["available_cores", "resolve_threads", "map_chunks", "run_all", "thread_pool"]

#: at most this many threads when the number is chosen automatically
MAX_AUTO_THREADS = 8


def available_cores():
    """Cores this process may run on (CPU affinity where the platform reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_threads(threads):
    """Number of threads for ``threads``: a positive integer as is; ``None``, ``0`` or
    ``"auto"``: the available cores (at most :data:`MAX_AUTO_THREADS`)."""
    if threads is None or threads == 0 or (isinstance(threads, str) and threads.strip().lower() == "auto"):
        return min(available_cores(), MAX_AUTO_THREADS)
    try:
        n = int(threads)
    except (TypeError, ValueError):
        raise ValueError(f"threads={threads!r}: expected a positive integer or 'auto'") from None
    if n < 1:
        raise ValueError(f"threads={threads!r}: expected a positive integer or 'auto'")
    return n


def map_chunks(func, chunks, threads=1):
    """Yield ``(chunk, func(chunk))`` for every item of ``chunks``, in order.

    With ``threads > 1`` up to ``threads`` chunks are computed concurrently and at most
    ``2 * threads`` results wait to be consumed, so memory stays bounded by a few
    chunks.  An exception raised by ``func`` is re-raised here (for the first failing
    chunk in order); the chunks not yet started are then abandoned.
    """
    threads = resolve_threads(threads)
    chunks = iter(chunks)
    if threads == 1:
        for chunk in chunks:
            yield chunk, func(chunk)
        return
    pending = deque()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webbcal-chunk") as pool:
        try:
            for chunk in chunks:
                pending.append((chunk, pool.submit(func, chunk)))
                if len(pending) >= 2 * threads:
                    c, fut = pending.popleft()
                    yield c, fut.result()
            while pending:
                c, fut = pending.popleft()
                yield c, fut.result()
        finally:
            for _, fut in pending:
                fut.cancel()


def run_all(funcs, pool=None):
    """``[f() for f in funcs]``, on ``pool`` (a :class:`ThreadPoolExecutor`, made once by
    the caller for all its chunks: making one per call costs more than a small chunk) or
    in this thread when ``pool`` is None.

    Used to read the arrays of one chunk (data, variances, DQ) concurrently: copying a
    file's slice is bound by memory traffic, which two threads nearly halve."""
    funcs = list(funcs)
    if pool is None or len(funcs) < 2:
        return [f() for f in funcs]
    futures = [pool.submit(f) for f in funcs]
    return [fut.result() for fut in futures]


def thread_pool(threads, tasks):
    """A thread pool of ``threads`` (see :func:`resolve_threads`) for at most ``tasks``
    concurrent tasks, or None when that is one thread (use as a context manager either
    way: ``with thread_pool(...) as pool``)."""
    import contextlib

    n = min(resolve_threads(threads), max(1, int(tasks)))
    if n <= 1:
        return contextlib.nullcontext(None)
    return ThreadPoolExecutor(max_workers=n, thread_name_prefix="webbcal-read")

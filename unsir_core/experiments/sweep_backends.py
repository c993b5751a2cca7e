"""Where the cells of a sweep run: in this process, in a local process pool, or on a Ray cluster.

Every backend runs `sweep_cells.measure` on the same model and data and yields (cell index, record) as cells finish.
Data, model and the original's evaluations go to each worker once: as the pool's initializer arguments, or into
Ray's object store with `ray.put` (each task gets references, not copies sent per cell). Each worker sets its torch
thread count explicitly, since CPU kernels may sum in another order with another thread count; the runs themselves are
seeded, so every backend gives the same numbers for the same thread count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from unsir_core.common.device import pick_device
from unsir_core.common.errors import Cancelled, ConfigError
from unsir_core.common.progress import CancelToken, ProgressFn
from unsir_core.data import ImageData
from unsir_core.experiments.sweep_cells import measure
from unsir_core.experiments.sweep_grid import Cell, SweepMetrics
from unsir_core.metrics.evaluate import Evaluation
from unsir_core.models.classifier import Classifier

Record = tuple[int, dict[str, Any]]
Originals = Mapping[
    tuple[int, ...], Evaluation
]  # the original's evaluation by forgotten classes (sweep_cells.original_evaluations)


class Backend(Protocol):
    def start(self, device: str | torch.device) -> str:
        """Get ready (start workers or connect); returns the device type the cells will run on ("cpu", "cuda")."""

    def run(
        self,
        cells: Sequence[Cell],
        model: Classifier,
        data: ImageData,
        metrics: SweepMetrics,
        originals: Originals,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> Iterator[Record]:
        """Yield (cell index, record) as cells finish; stop early (or raise Cancelled) once `cancel` is set."""

    def describe(self) -> str: ...


def _check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise ConfigError(f"Each worker needs at least 1 thread, got {threads}.")


class InProcess:
    """Cells one after another in this process (the default: nothing to set up). Each cell's own progress
    events are passed on, and a cancel stops it at its next step."""

    def __init__(self, threads: int | None = None):
        _check_threads(threads)
        self.threads = threads  # torch threads while the sweep runs (None: leave the process's setting)
        self.device = torch.device("cpu")

    def start(self, device: str | torch.device) -> str:
        self.device = pick_device(device) if not isinstance(device, torch.device) else device
        return self.device.type

    def run(self, cells, model, data, metrics, originals, progress, cancel) -> Iterator[Record]:
        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            for cell in cells:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("Sweep cancelled; finished cells are cached.")
                yield (
                    cell.index,
                    measure(model, data, cell.forget, cell.config, metrics, self.device, progress, cancel, originals),
                )
        finally:
            torch.set_num_threads(before)

    def describe(self) -> str:
        return f"in-process ({self.threads or torch.get_num_threads()} threads)"


# ------------------------------------------------------------------ a local process pool

_WORKER: dict[str, Any] = {}  # what a pool worker got once, at its start


def _init_worker(model: Classifier, data: ImageData, originals: Originals, device: str, threads: int) -> None:
    torch.set_num_threads(threads)
    _WORKER.update(model=model, data=data, originals=originals, device=torch.device(device))


def _pool_cell(cell: Cell, metrics: SweepMetrics) -> Record:
    return cell.index, measure(
        _WORKER["model"],
        _WORKER["data"],
        cell.forget,
        cell.config,
        metrics,
        _WORKER["device"],
        originals=_WORKER["originals"],
    )


class ProcessPool:
    """`workers` local processes (spawned, so CUDA works in them too), each with the model and data once."""

    def __init__(self, workers: int, threads: int | None = None):
        if workers < 1:
            raise ConfigError(f"--workers needs at least 1 process, got {workers}.")
        _check_threads(threads)
        self.workers = workers
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)  # split the cores between workers
        self.device = "cpu"

    def start(self, device: str | torch.device) -> str:
        self.device = str(pick_device(device) if not isinstance(device, torch.device) else device)
        return torch.device(self.device).type

    def run(self, cells, model, data, metrics, originals, progress, cancel) -> Iterator[Record]:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        if not cells:
            return
        cpu_model = model.copy()
        cpu_model.net.to("cpu")
        pool = ProcessPoolExecutor(
            min(self.workers, len(cells)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(cpu_model, data.to("cpu"), originals, self.device, self.threads),
        )
        try:
            pending = {pool.submit(_pool_cell, cell, metrics) for cell in cells}
            while pending:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("Sweep cancelled; finished cells are cached.")
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def describe(self) -> str:
        return f"process pool ({self.workers} workers x {self.threads} threads)"


# ------------------------------------------------------------------ Ray

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # shipped to a remote cluster's workers (runtime_env py_modules)


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "Ray is not installed: `pip install -r requirements-ray.txt` (or run without --ray)."
        ) from None
    return ray


def _ray_cell(
    model: Classifier,
    data: ImageData,
    originals: Originals,
    cell: Cell,
    metrics: SweepMetrics,
    device: str,
    threads: int,
) -> Record:
    torch.set_num_threads(threads)
    return cell.index, measure(
        model, data, cell.forget, cell.config, metrics, torch.device(device), originals=originals
    )


class RayBackend:
    """Ray core tasks, one per cell, on a local Ray (`address=None`) or a running cluster ("ray://host:10001",
    "host:6379" or "auto"). Model and data go into the object store once; a cell asks for a GPU when the cluster
    has one, and for `threads` CPUs otherwise."""

    def __init__(self, address: str | None = None, threads: int = 1):
        _check_threads(threads)
        self.address, self.threads = address, threads
        self.device = "cpu"

    def start(self, device: str | torch.device) -> str:
        ray = import_ray()
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address:  # a cluster's workers get this package with the task (they need torch & co. installed)
                options["runtime_env"] = {"py_modules": [str(PACKAGE_DIR)]}
            try:
                ray.init(address=self.address, **options)
            except ConnectionError as err:
                raise ConfigError(
                    f"Cannot reach the Ray cluster at {self.address}: {err}. Start it with "
                    "`ray start --head`, or pass its address (ray://HOST:10001)."
                ) from err
        gpus = ray.cluster_resources().get("GPU", 0)
        self.device = "cuda" if gpus >= 1 and str(device) != "cpu" else "cpu"
        return self.device

    def run(self, cells, model, data, metrics, originals, progress, cancel) -> Iterator[Record]:
        ray = import_ray()
        if not cells:
            return
        cpu_model = model.copy()
        cpu_model.net.to("cpu")
        model_ref, data_ref, originals_ref = ray.put(cpu_model), ray.put(data.to("cpu")), ray.put(dict(originals))
        task = ray.remote(_ray_cell).options(num_cpus=self.threads, num_gpus=1 if self.device == "cuda" else 0)
        pending = [
            task.remote(model_ref, data_ref, originals_ref, cell, metrics, self.device, self.threads) for cell in cells
        ]
        try:
            while pending:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("Sweep cancelled; finished cells are cached.")
                done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
                for ref in done:
                    yield ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref)

    def describe(self) -> str:
        where = self.address or "local"
        return f"ray ({where}, {self.device}, {self.threads} CPU per cell)"


def make_backend(workers: int | None = None, ray_address: str | None = None, threads: int | None = None) -> Backend:
    """The backend for command-line options: --ray [ADDRESS] ("local" = a local Ray), --workers N, or in-process."""
    if workers is not None and ray_address is not None:
        raise ConfigError("Choose one backend: --workers N for a local process pool, or --ray [ADDRESS].")
    if ray_address is not None:
        return RayBackend(None if ray_address == "local" else ray_address, threads or 1)
    if workers is not None:
        return ProcessPool(workers, threads)
    return InProcess(threads)

"""Runner support: ``--runner dask`` (a local Dask cluster, or an existing scheduler).

In:  the Beam arguments of a run. Out: the arguments to run with, and a cleanup callable.

    beam_args, cleanup = dask_runner_args(["--runner", "dask"])   # starts a LocalCluster
    try: ...run the pipeline with beam_args...
    finally: cleanup()                                            # shuts it down again

``--runner dask`` (also ``DaskRunner`` or Beam's class path) becomes ``--runner
pipelines.runners.DaskRunner --dask_client_address <scheduler>``. Without
``--dask_client_address``/``--dask_scheduler_file`` a ``distributed.LocalCluster`` with one
single-threaded worker process per core is started for the run.

Why a runner class of our own: Beam's ``apache_beam.runners.dask.dask_runner.DaskRunner``
translates a pipeline into ``dask.bag`` operations, but (found by running 2.77, see
``tests/test_dask.py``; 2.78 fixes the ``finish_bundle`` point only):

- a ParDo with several outputs (``with_outputs``, ``TaggedOutput``, ``with_exception_handling``,
  ``Partition``) hands *every* output to each consumer: rejects and articles mix;
- what a DoFn emits in ``finish_bundle`` is dropped (``BatchElements`` loses its last batch
  of every bundle);
- only the branch that ends in the last transform applied is computed; other branches never run;
- side inputs are computed by a nested ``compute()`` inside a worker task;
- every ``GroupByKey`` keeps its input's partition count, so a pipeline that starts from one
  ``Create`` runs on one core; and the ``Client`` it opens is never closed.

:class:`DaskRunner` subclasses Beam's and keeps its pipeline overrides and Beam's own
``DoFnInvoker``; it replaces the translation: one bag per output PCollection, bundles
collected after ``finish_bundle``, side inputs as graph dependencies, every unconsumed
PCollection computed, ``GroupByKey`` (task shuffle) and ``Reshuffle`` repartitioned to
``--dask_npartitions`` or twice the cluster's threads, DoFns set up once per worker process
and reused across bundles (as Beam's other runners do), and its client closed when the run
ends. It refuses what it cannot run correctly (state and timers, splittable DoFns, windows
other than the global one, primitives it has no translation for) instead of passing data
through. Metrics are not collected: ``result.metrics()`` raises ``NotImplementedError``, as
Beam's does. When Beam's own runner gets these right, drop the class: ``tests/test_dask.py``
runs the same checks against whichever runner ``DASK_RUNNER`` names.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
import uuid
from typing import Callable, Sequence

from apache_beam.portability import python_urns
from apache_beam.runners.common import Receiver
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.runner import PipelineRunner

from pipelines import signals

LOG = logging.getLogger("news_ingest")

DASK_RUNNER = "pipelines.runners.DaskRunner"
BEAM_DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
_DASK_NAMES = {"dask", "daskrunner", BEAM_DASK_RUNNER.lower(), DASK_RUNNER.lower()}
_CLUSTER_OPTIONS = ("--dask_client_address", "--dask_scheduler_file")


def runner_of(beam_args: Sequence[str]) -> str | None:
    """The value of ``--runner`` in ``beam_args`` (the last one wins, as in argparse)."""
    runner = None
    args = list(beam_args)
    for index, arg in enumerate(args):
        if arg == "--runner" and index + 1 < len(args):
            runner = args[index + 1]
        elif arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
    return runner


def runner_problem(name: str) -> str | None:
    """Why ``--runner name`` cannot be used, in one line; None for a runner Beam knows by name (as
    ``apache_beam.runners.create_runner`` resolves it: any case, ``Runner`` optional), ``dask``, or
    the full name of an importable ``PipelineRunner`` subclass. Nothing is started."""
    import difflib
    import importlib

    from apache_beam.options.pipeline_options import StandardOptions

    known = {path.rsplit(".", 1)[-1].lower(): path for path in StandardOptions.ALL_KNOWN_RUNNERS}
    lowered = name.lower()
    if lowered in _DASK_NAMES or lowered in known or lowered + "runner" in known:
        return None
    if "." in name:
        module, _, attribute = name.rpartition(".")
        try:
            runner = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            return f"--runner {name}: cannot import it ({type(exc).__name__}: {exc})"
        if isinstance(runner, type) and issubclass(runner, PipelineRunner):
            return None
        return f"--runner {name} is not a Beam PipelineRunner class"
    names = [*StandardOptions.KNOWN_RUNNER_NAMES, "dask"]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    return (f"unknown runner {name!r}: {hint}Beam knows {', '.join(names)}, or give the full name of a "
            "PipelineRunner class")


def is_dask(beam_args: Sequence[str]) -> bool:
    runner = runner_of(beam_args)
    return runner is not None and runner.lower() in _DASK_NAMES


def _has_option(beam_args: Sequence[str], option: str) -> bool:
    return any(arg == option or arg.startswith(option + "=") for arg in beam_args)


def _with_runner(beam_args: Sequence[str], runner: str) -> list[str]:
    out, args, index = [], list(beam_args), 0
    while index < len(args):
        if args[index] == "--runner":
            index += 2
            continue
        if not args[index].startswith("--runner="):
            out.append(args[index])
        index += 1
    return ["--runner", runner, *out]


LOCAL_RUNNER = "pipelines.runners.LocalRunner"


class LocalRunner(PipelineRunner):
    """The batch default: Beam's FnApiRunner in this process, chosen outright.

    Beam's ``DirectRunner`` first tries Prism, a Go binary it downloads from GitHub at run
    time, and falls back to the FnApiRunner when that fails: offline that costs ~0.3 s per
    run, and online the same command would run on another runner than the one the tests
    exercise. This is the FnApiRunner the DirectRunner falls back to, set up the same way
    (the options passed to the workers), so ``--direct_num_workers`` and
    ``--direct_running_mode`` work as with the DirectRunner. ``--runner DirectRunner``
    still gives Beam's own choice.
    """

    def run_pipeline(self, pipeline, options):
        from apache_beam.options.pipeline_options import DirectOptions
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        worker_options = options.get_all_options()
        if (options.view_as(DirectOptions).direct_running_mode == "multi_processing"
                and not worker_options.get("default_sdk_harness_log_level")):
            worker_options["default_sdk_harness_log_level"] = "WARNING"  # as the CLI logs libraries
        encoded = JobServiceHandle.encode_pipeline_options(worker_options)
        provision = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
        return _FnApiRunner(provision_info=provision).run_pipeline(pipeline, options)


BEAM_WORKER_MODULE = "apache_beam.runners.worker.sdk_worker_main"
WORKER_MODULE = "pipelines.worker"


class _FnApiRunner(fn_runner.FnApiRunner):
    """Beam's FnApiRunner whose worker processes (``multi_processing``) run ``python -m
    pipelines.worker``: Beam's own harness with the CLI's logging (see ``pipelines/worker.py``).
    Beam starts the command through ``sh -c``: ``trap '' INT TERM`` makes the worker ignore Ctrl-C
    and SIGTERM sent to the whole process group until ``pipelines.worker`` handles them (Python keeps
    an ignored SIGINT ignored), and ``exec`` puts it in the shell's place. When the run is stopped
    (``pipelines/signals.py``) the workers get SIGTERM from here: each ends at once or after the commit
    under way in it, so Beam's teardown never waits on a worker stuck in a bundle."""

    def run_via_runner_api(self, pipeline_proto, options):
        for environment in pipeline_proto.components.environments.values():
            if environment.urn == python_urns.SUBPROCESS_SDK:
                command = environment.payload.decode("utf-8")
                if command.endswith(f" -m {BEAM_WORKER_MODULE}"):
                    command = "trap '' INT TERM; exec " + command[:-len(BEAM_WORKER_MODULE)] + WORKER_MODULE
                    environment.payload = command.encode("utf-8")
        with signals.on_stop(_stop_workers):
            return super().run_via_runner_api(pipeline_proto, options)


def _stop_workers(signum: int) -> None:
    """SIGTERM to this process's ``pipelines.worker`` children (Linux ``/proc``; elsewhere none are found)."""
    me = str(os.getpid())
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                parent = stat.read().rsplit(b")", 1)[1].split()[1].decode()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                worker = f"-m\0{WORKER_MODULE}".encode() in cmdline.read()
            if parent == me and worker:
                os.kill(int(entry), signal.SIGTERM)
        except (OSError, IndexError, ValueError):  # not a process, or gone meanwhile
            continue


def batch_runner_args(beam_args: Sequence[str]) -> list[str]:
    """``beam_args`` with ``--runner`` set to :class:`LocalRunner` when none is given."""
    return list(beam_args) if runner_of(beam_args) else ["--runner", LOCAL_RUNNER, *beam_args]


def require_dask() -> None:
    """Import Beam's Dask runner (which declares the ``--dask_*`` options); ImportError with the fix."""
    try:
        import apache_beam.runners.dask.dask_runner  # noqa: F401  (registers DaskOptions)
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"--runner dask needs Dask ({exc}): pip install 'news-ingest[dask]'") from None


def start_local_cluster(workers: int | None = None):
    """A ``distributed.LocalCluster``: ``workers`` single-threaded processes (default: one per core)."""
    import dask
    from distributed import LocalCluster

    workers = workers or os.cpu_count() or 1
    # Processes, not threads: the DoFns are CPU-bound Python (the GIL), and separate processes
    # are what a multi-machine cluster gives, so pickling problems show up here first.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.DASK_LOGGING__DISTRIBUTED": "warning"}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=":0",  # a free port: never collide with another cluster
                            preload=[__name__])  # dask_setup below, in every worker


def _not_a_task_traceback(record: logging.LogRecord) -> bool:
    # A failing task's exception reaches the driver, which prints it as one line (the whole
    # traceback with -v), as on DirectRunner; the worker's copy would be a second, longer one.
    # And when the run closes its own LocalCluster, a worker whose heartbeat finds the scheduler
    # already gone logs a traceback: part of the shutdown we asked for, not a problem to report.
    return not (record.name == "distributed.worker"
                and str(record.msg).startswith(("Compute Failed", "Failed to communicate with scheduler "
                                                                  "during heartbeat")))


def dask_setup(worker) -> None:
    """Dask preload hook, run as a worker of our LocalCluster starts: its terminal output is
    warnings and errors only, as the CLI's (libraries such as GX log INFO to the root handler)."""
    logging.basicConfig(level=logging.WARNING, format="news-ingest worker: %(levelname)s %(name)s: %(message)s",
                        force=True)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)
        handler.addFilter(_not_a_task_traceback)


def dask_runner_args(beam_args: Sequence[str], workers: int | None = None
                     ) -> tuple[list[str], Callable[[], None]]:
    """``beam_args`` for our :class:`DaskRunner` and a cleanup callable (see the module docstring).

    Other runners' arguments come back unchanged, with a cleanup that does nothing.
    """
    args = list(beam_args)
    if not is_dask(args):
        return args, lambda: None
    require_dask()
    args = _with_runner(args, DASK_RUNNER)
    if _has_option(args, "--setup_file") or _has_option(args, "--requirements_file"):
        LOG.warning("the Dask runner does not stage packages (--setup_file, --requirements_file): "
                    "install news-ingest on the Dask workers")
    if any(_has_option(args, option) for option in _CLUSTER_OPTIONS):
        return args, lambda: None
    cluster = start_local_cluster(workers)
    LOG.info("started a local Dask cluster: %d workers at %s", len(cluster.workers), cluster.scheduler_address)

    def cleanup() -> None:
        cluster.close()

    return [*args, "--dask_client_address", cluster.scheduler_address], cleanup


# ---------------------------------------------------------------------------------------------
# The runner. Everything below imports dask lazily or runs on the workers.

_NOTHING = object()


def _concat(partitions: list) -> list:
    return [item for partition in partitions for item in partition]


def _select(pairs: list, tag) -> list:
    return [value for output_tag, value in pairs if output_tag == tag]


def _count(partition) -> list:
    return [sum(1 for _ in partition)]


def _group_key(item):
    return item[0]


def _grouped(group: tuple) -> tuple:
    """dask's ``(key, [(key, WindowedValue), ...])`` -> Beam's ``(key, [value, ...])``."""
    key, items = group
    return key, [windowed.value for _, windowed in items]


class _Collect(Receiver):
    """A Beam ``Receiver`` that keeps ``(tag, value)``; the windows are global (checked)."""

    def __init__(self, tag, out: list) -> None:
        self.tag, self.out = tag, out

    def receive(self, windowed_value) -> None:
        self.out.append((self.tag, windowed_value.value))


class _TaggedReceivers(dict):
    def __init__(self, out: list) -> None:
        super().__init__()
        self.out = out

    def __missing__(self, tag):
        self[tag] = receiver = _Collect(tag, self.out)
        return receiver


# Set-up DoFns not in use, in this worker process: {"run": run token, "idle": {key: [signature]}}.
# A bundle borrows one (setup() only for a new instance) and gives it back, so setup() runs
# once per worker and DoFn rather than once per partition (spaCy and GX load in setup()).
# Only one run's DoFns are kept: a bundle of another run tears the idle ones down.
_POOL: dict = {"run": None, "idle": {}}
_POOL_LOCK = threading.Lock()


def _teardown(signature) -> None:
    try:
        signature.do_fn.teardown()
    except Exception as exc:  # noqa: BLE001 - teardown is best effort in Beam as well; the bundle succeeded
        LOG.warning("teardown of %s failed: %s", type(signature.do_fn).__name__, exc)


def _borrow(spec: dict):
    """A set-up DoFn's signature for this ParDo, and whether it still needs setup()."""
    with _POOL_LOCK:
        stale = []
        if _POOL["run"] != spec["run"]:
            stale = [sig for sigs in _POOL["idle"].values() for sig in sigs]
            _POOL.update(run=spec["run"], idle={})
        idle = _POOL["idle"].get(spec["key"])
        signature = idle.pop() if idle else None
    for old in stale:
        _teardown(old)
    return (signature, False) if signature is not None else (spec["signature"], True)


def _give_back(spec: dict, signature) -> None:
    with _POOL_LOCK:
        if _POOL["run"] == spec["run"]:
            _POOL["idle"].setdefault(spec["key"], []).append(signature)
            return
    _teardown(signature)


def _run_bundle(items, spec: dict, *side_values: list) -> list:
    """One Dask partition through one ParDo: ``(tag, value)`` of everything it emitted,
    ``finish_bundle`` included."""
    from apache_beam import DoFn
    from apache_beam.runners.common import DoFnContext, DoFnInvoker, _OutputHandler
    from apache_beam.runners.dask.transform_evaluator import get_windowed_value
    from apache_beam.transforms.sideinputs import SideInputMap

    items = iter(items)
    first = next(items, _NOTHING)
    if first is _NOTHING:  # no bundle for an empty partition (no setup, no start/finish_bundle)
        return []
    out: list = []
    handler = _OutputHandler(
        window_fn=spec["window_fn"], main_receivers=_Collect(None, out), tagged_receivers=_TaggedReceivers(out),
        per_element_output_counter=None, output_batch_converter=None, process_yields_batches=False,
        process_batch_yields_elements=False)
    side_inputs = [
        SideInputMap(view_class, view_options, [get_windowed_value(v, spec["window_fn"]) for v in values])
        for (view_class, view_options), values in zip(spec["side_views"], side_values)]
    signature, new = _borrow(spec)
    invoker = DoFnInvoker.create_invoker(
        signature, handler, context=DoFnContext(spec["label"], state=None), side_inputs=side_inputs,
        input_args=spec["args"], input_kwargs=spec["kwargs"], user_state_context=None,
        bundle_finalizer_param=DoFn.BundleFinalizerParam())
    try:
        if new:
            invoker.invoke_setup()
        invoker.invoke_start_bundle()
        for item in itertools.chain([first], items):
            invoker.invoke_process(get_windowed_value(item, spec["window_fn"]))
        invoker.invoke_finish_bundle()
    except BaseException:
        _teardown(signature)  # a DoFn that failed is not used again
        raise
    _give_back(spec, signature)
    return out


def _release(run: str) -> int:
    """On a worker, after a run: tear down that run's idle DoFns (their models, clients)."""
    with _POOL_LOCK:
        if _POOL["run"] != run:
            return 0
        idle = [sig for sigs in _POOL["idle"].values() for sig in sigs]
        _POOL.update(run=None, idle={})
    for signature in idle:
        _teardown(signature)
    return len(idle)


def _translator(npartitions: int, bag_kwargs: dict, run: str):
    """A PipelineVisitor that builds one dask bag per PCollection (see the module docstring)."""
    import apache_beam as beam
    import dask
    import dask.bag as db
    from apache_beam import pvalue
    from apache_beam.pipeline import PipelineVisitor
    from apache_beam.runners.common import DoFnSignature
    from apache_beam.runners.dask import overrides
    from apache_beam.transforms.window import GlobalWindows

    class Translator(PipelineVisitor):
        def __init__(self) -> None:
            self.bags: dict = {}  # PCollection -> Bag
            self.consumed: set = set()

        def leaves(self) -> list:
            return [bag for pcoll, bag in self.bags.items() if pcoll not in self.consumed]

        def visit_transform(self, node) -> None:
            transform = node.transform
            inputs = [value for value in node.inputs if not isinstance(value, pvalue.PBegin)]
            self.consumed.update(inputs)
            self.consumed.update(side.pvalue for side in node.side_inputs)
            for output in node.outputs.values():
                windowing = getattr(output, "windowing", None)
                if windowing is not None and not isinstance(windowing.windowfn, GlobalWindows):
                    raise NotImplementedError(f"{node.full_label}: the Dask runner supports the global window only")
            if isinstance(transform, overrides._GroupAlsoByWindow):
                bag = self.bags[inputs[0]]  # grouped already: one global window
            elif isinstance(transform, beam.ParDo):
                self._pardo(node, inputs)
                return
            elif isinstance(transform, overrides._Create):
                values = list(transform.values)
                if bag_kwargs.get("partition_size"):
                    bag = db.from_sequence(values, partition_size=bag_kwargs["partition_size"])
                else:
                    bag = db.from_sequence(values, npartitions=max(1, min(npartitions, len(values))))
            elif isinstance(transform, overrides._Flatten):
                bags = [self.bags[value] for value in inputs]
                bag = db.concat(bags) if bags else db.from_sequence([], npartitions=1)
            elif isinstance(transform, overrides._GroupByKeyOnly):
                # groupby keeps the partition count: choose it, or a run that starts from one
                # Create stays on one core. The task shuffle hashes keys with dask's tokenize,
                # the same in every process; the disk shuffle would stay on one machine.
                bag = (self.bags[inputs[0]].repartition(npartitions)
                       .groupby(_group_key, shuffle="tasks").map(_grouped))
            elif isinstance(transform, overrides._Reshuffle):
                bag = self.bags[inputs[0]].repartition(npartitions)
            else:
                raise NotImplementedError(f"{node.full_label}: the Dask runner cannot run "
                                          f"{type(transform).__name__}")
            [output] = node.outputs.values()
            self.bags[output] = bag

        def _pardo(self, node, inputs) -> None:
            transform = node.transform
            signature = DoFnSignature(transform.fn)
            if signature.is_stateful_dofn() or signature.is_splittable_dofn():
                raise NotImplementedError(f"{node.full_label}: the Dask runner cannot run stateful or "
                                          "splittable DoFns")
            main_input = next(iter(node.main_inputs.values()))
            args, kwargs = transform.raw_side_inputs
            spec = {
                "signature": signature, "label": transform.label, "args": list(args), "kwargs": kwargs,
                "run": run, "key": node.full_label,
                "window_fn": main_input.windowing.windowfn,
                "side_views": [(type(side), side._view_options()) for side in node.side_inputs],
            }
            # Side inputs are whole PCollections handed to every bundle: graph dependencies,
            # computed once, not a compute() nested inside a task.
            side_values = [dask.delayed(_concat)(self.bags[side.pvalue].to_delayed(optimize_graph=False))
                           for side in node.side_inputs]
            pairs = self.bags[inputs[0]].map_partitions(_run_bundle, spec, *side_values)
            for tag, output in node.outputs.items():
                self.bags[output] = pairs.map_partitions(_select, tag)

    return Translator()


def _runner_classes() -> dict:
    """Our DaskRunner and its result, built on first use so that importing this module
    (the CLI does) neither imports dask nor needs it installed."""
    require_dask()
    from apache_beam.runners.dask import dask_runner as beam_dask
    from apache_beam.runners.runner import PipelineState

    class DaskRunnerResult(beam_dask.DaskRunnerResult):
        """Beam's result; once the run is over it cancels what is left (after a failure), tears
        down the run's DoFns on the workers and closes its client (Beam's never does)."""

        run = None  # the run's token (see _POOL)

        def wait_until_finish(self, duration=None) -> str:
            try:
                return super().wait_until_finish(duration)
            finally:
                if PipelineState.is_terminal(self.state):
                    self._close()

        def _close(self) -> None:
            try:
                if self.state != PipelineState.DONE:
                    self.client.cancel(self.futures)
                self.client.run(_release, self.run)
            except Exception as exc:  # noqa: BLE001 - cleanup only: the run's outcome is decided already
                LOG.warning("could not release the Dask workers' DoFns: %s", exc)
            finally:
                self.client.close()

    class DaskRunner(beam_dask.DaskRunner):
        """Beam's DaskRunner with the translation described in the module docstring."""

        def run_pipeline(self, pipeline, options):
            import dask.distributed as ddist
            from apache_beam.runners.dask.overrides import dask_overrides

            dask_options = options.view_as(beam_dask.DaskOptions).get_all_options(
                drop_default=True, current_only=True)
            bag_kwargs = beam_dask.DaskOptions._extract_bag_kwargs(dask_options)
            client = ddist.Client(**dask_options)
            run = uuid.uuid4().hex
            try:
                npartitions = bag_kwargs.get("npartitions") or 2 * max(1, sum(client.nthreads().values()))
                pipeline.replace_all(dask_overrides())
                translator = _translator(npartitions, bag_kwargs, run)
                pipeline.visit(translator)
                # Every PCollection nobody consumes is an end of the graph; a count of each is
                # all that comes back to the client. No graph optimisation: dask's fusion renames
                # the tasks it fuses, and a bag that is also a side input (referenced by its
                # original keys) would then be computed twice, DoFns and file writes included.
                counts = [leaf.map_partitions(_count) for leaf in translator.leaves()]
                futures = client.compute(counts, optimize_graph=False)
            except BaseException:
                client.close()
                raise
            result = DaskRunnerResult(client, futures)
            result.run = run
            return result

    DaskRunner.__module__ = DaskRunnerResult.__module__ = __name__
    return {"DaskRunner": DaskRunner, "DaskRunnerResult": DaskRunnerResult}


def __getattr__(name: str):
    if name in ("DaskRunner", "DaskRunnerResult"):
        classes = _runner_classes()
        globals().update(classes)
        return classes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""WriteManifest: the run's file records, feed reports and read count -> ``_runs/<run_id>.json``.

In:  a PCollection of items: ``("read", n)``, ``("file", record)``, ``("feed", report)``,
``("index", staged_path, relative_final_path, rows)``. Out: the manifest dict (one element), after
it is written. Staged seen-index files are renamed into place just before the manifest
is written, and only when the counts reconcile.

    manifest = items | WriteManifest("out", header)
"""

from __future__ import annotations

import datetime as dt

import apache_beam as beam

from pipelines import storage
from pipelines.core.manifest import build_manifest


def manifest_path(output: str, run_id: str) -> str:
    return storage.join(output, "_runs", f"{run_id}.json")


class WriteManifestFn(beam.DoFn):
    def __init__(self, output: str, header: dict) -> None:
        self.output, self.header = output, header

    def process(self, items):
        read = sum(item[1] for item in items if item[0] == "read")
        files = [item[1] for item in items if item[0] == "file"]
        feeds = [item[1] for item in items if item[0] == "feed"]
        staged_index = sorted((item[1], item[2], item[3]) for item in items if item[0] == "index")
        finished = dt.datetime.now(dt.timezone.utc).isoformat()
        manifest = build_manifest(self.header, read, files, feeds, finished)
        committed = staged_index if manifest["reconciled"] else []
        # The run's commit: its seen-index entries become visible, then the manifest.
        storage.publish_staged([staged for staged, _, _ in committed],
                               [storage.join(self.output, relative) for _, relative, _ in committed])
        manifest["index_files"] = [{"path": relative, "rows": rows} for _, relative, rows in committed]
        run_id = self.header["run_id"]
        storage.publish_bytes(storage.json_bytes(manifest), manifest_path(self.output, run_id),
                              storage.join(self.output, storage.STAGING_DIR, run_id, "manifest.json"))
        yield manifest


class WriteManifest(beam.PTransform):
    def __init__(self, output: str, header: dict) -> None:
        super().__init__()
        if "run_id" not in header:
            raise ValueError("the manifest header needs a run_id")
        self.output, self.header = output, header

    def expand(self, items):
        return (
            items
            | "CollectItems" >> beam.combiners.ToList()
            | "WriteManifestFile" >> beam.ParDo(WriteManifestFn(self.output, self.header))
        )

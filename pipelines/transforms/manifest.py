"""WriteManifest: the run's file records, feed reports and read count -> ``_runs/<run_id>.json``.

In:  a PCollection of items: ``("read", n)``, ``("file", record)``, ``("feed", report)``,
``("index", staged_path, relative_final_path, rows)``. Out: the manifest dict (one element), after
it is written.

This is the run's commit. When the counts reconcile, every staged data and validation file
(the file records' ``staged``/``staged_validation``) and every staged seen-index file is
renamed into place and the manifest written, all through one journal
(``pipelines/journal.py``): a run killed at any moment either published nothing or is
completed by the next run's ``journal.recover``. When they do not reconcile nothing is
published but the manifest (status ``failed``); the feed state is not advanced either
(SaveFeedState waits for a committed manifest), so the next run redoes the work.

    manifest = items | WriteManifest("out", header)
"""

from __future__ import annotations

import datetime as dt

import apache_beam as beam

from pipelines import journal, storage
from pipelines.core.manifest import build_manifest, commit_renames


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
        run_id = self.header["run_id"]
        path = manifest_path(self.output, run_id)
        if not manifest["reconciled"]:  # publish nothing: the staged files are removed with _staging/
            manifest["index_files"] = []
            manifest["published"] = False
            storage.publish_bytes(storage.json_bytes(manifest), path,
                                  storage.join(self.output, storage.STAGING_DIR, run_id, "manifest.json"))
            yield manifest
            return
        manifest["index_files"] = [{"path": relative, "rows": rows} for _, relative, rows in staged_index]
        manifest["published"] = True
        renames = commit_renames(lambda relative: storage.join(self.output, relative), files)
        renames += [(staged, storage.join(self.output, relative)) for staged, relative, _ in staged_index]
        journal.commit(self.output, run_id, renames, manifest, path)
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

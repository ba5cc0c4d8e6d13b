# Nothing computed is lost (src/mmrobust/keep.py): Snakemake deletes the outputs of a job before it
# runs and again when it fails, and records the failed run's params for them. So onstart hard-links
# the outputs of every job about to run, with their metadata records, and onerror puts back what is
# missing; both then drop the links.
from pathlib import Path

from snakemake.io import IOFile
from snakemake.persistence import MetadataRecord

from mmrobust.keep import keep, release, restore


def _record_of(path):
    record = workflow.persistence.metadata(IOFile(str(path)))
    return None if record is None else record.model_dump(mode="json")


def _put_record(path, record):
    persistence = workflow.persistence
    key = persistence._get_key(IOFile(str(path)))
    if record is None:
        persistence._delete_record(key)
    else:
        persistence._write_record(key, MetadataRecord.model_validate(record))
    persistence._clear_cache()


onstart:
    if not workflow.touch:  # --touch (scripts/dvc-pulled) deletes and writes no output
        keep((Path(f) for job in workflow.dag.needrun_jobs() for f in job.output), _record_of)


onsuccess:
    release()


onerror:
    for out in restore(_put_record):
        print(f"mmrobust: the rerun of {out} failed; the previous {out} is back in place", file=sys.stderr)

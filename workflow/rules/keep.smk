# Nothing computed is lost (src/mmrobust/keep.py): Snakemake deletes a failed job's outputs and
# records the failed run's params for them; onerror puts the previous outputs back (hard links kept
# by the stage) together with the metadata record they had when this workflow started.
from snakemake.io import IOFile
from snakemake.persistence import MetadataRecord

from mmrobust.keep import restore, snapshot


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
    snapshot(_record_of)


onerror:
    for out in restore(_put_record):
        print(f"mmrobust: the rerun of {out} failed; the previous {out} is back in place", file=sys.stderr)

"""User-facing errors: the CLI prints them as one line and exits 2, without a traceback."""


class MmrobustError(Exception):
    """A problem with the user's input (config, manifest, media) that names the file and field."""

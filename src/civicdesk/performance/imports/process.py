"""A file's chunks read by a process of its own, so that reading and converting (numpy and
polars) use the other core while this process writes, and neither waits for the other's
interpreter. Worth it from a few tens of megabytes (the process has its first chunk ready
about two thirds of a second after it starts: it loads the settings but not the models).

The reading process is ``python -m civicdesk.performance.imports.process``: it gets the
file's path and the mapping on its standard input and writes pickles to its standard
output, one a chunk: ``("chunk", (frame, errors, done))``, then ``("end", None)``, or
``("error", exception)``. It never touches the database. Pickles are only ever read from
that child, never from a file or a person.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def chunks_read_apart(
    path: Path, mapping_text: str, mapping_label: str, size: int
) -> Iterator[Any]:
    """The chunks ``CsvExport.frames(size)`` gives, with the share of the file done, read
    by a child process; an error while reading comes out where its chunk would have."""
    from .records import FileProblem

    env = {**os.environ, "POLARS_MAX_THREADS": "1"}  # one core for the child
    env.setdefault("DJANGO_SETTINGS_MODULE", "civicdesk.settings")
    with tempfile.TemporaryFile() as errors_file:
        child = subprocess.Popen(  # noqa: S603 (this interpreter, this module)
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors_file,
            env=env,
        )
        assert child.stdin is not None and child.stdout is not None
        try:
            pickle.dump((str(path), mapping_text, mapping_label, size), child.stdin)
            child.stdin.close()
            while True:
                try:
                    kind, value = pickle.load(child.stdout)  # noqa: S301 (our own child)
                except EOFError:
                    child.wait()
                    errors_file.seek(0)
                    said = errors_file.read().decode("utf-8", "replace").strip().splitlines()
                    raise FileProblem(
                        f"{path}: the process reading the file stopped (exit code "
                        f"{child.returncode}{': ' + said[-1] if said else ''}); "
                        "nothing was imported"
                    ) from None
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
            child.stdout.close()


def _read(source: IO[bytes], out: IO[bytes]) -> None:
    path, mapping_text, mapping_label, size = pickle.load(source)  # noqa: S301 (our parent)
    # No django.setup(): reading needs the settings but no model (a third of a second).
    from .mapping import mapping_parse
    from .reader import CsvExport

    def send(message: tuple[str, Any]) -> None:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        with CsvExport(path, mapping_parse(mapping_text, label=mapping_label)) as export:
            for frame, errors in export.frames(size):
                send(("chunk", (frame, errors, export.bytes_read / max(export.total_bytes, 1))))
        send(("end", None))
    except Exception as exc:  # handed to the importing process, raised there
        send(("error", exc))


if __name__ == "__main__":
    _read(sys.stdin.buffer, sys.stdout.buffer)

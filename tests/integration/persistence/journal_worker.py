"""A separate process that uses a journal, for tests that race or kill it.

    python -m tests.integration.persistence.journal_worker MODE BACKEND TARGET STACK HOLDER

BACKEND is `sqlite` (TARGET: the file) or `postgres` (TARGET: the DSN). Modes:
- `hold`: print `ready`, wait for a line on stdin, try the lock of STACK, print `won` or
  `locked <message>`, then keep whatever it got until stdin closes or it is killed.
- `append`: start a release of STACK and print its id, then append events forever, printing
  each seq once `append` has returned (i.e. once the event is committed).
"""

from __future__ import annotations

import sys

from runbooks.journal.base import Journal
from runbooks.journal.postgres import PostgresJournal
from runbooks.journal.sqlite import SqliteJournal
from stackspec.errors import LockedError


def open_journal(backend: str, target: str) -> Journal:
    """The journal named on the command line."""
    return SqliteJournal(target) if backend == "sqlite" else PostgresJournal(target)


def hold(journal: Journal, stack: str, holder: str) -> None:
    """Race for the lock once told to go; report; keep it until stdin closes."""
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        journal.acquire(stack, holder)
    except LockedError as err:
        print("locked " + " | ".join([err.message, err.hint]), flush=True)
    else:
        print("won", flush=True)
    sys.stdin.read()


def append_forever(journal: Journal, stack: str) -> None:
    """Append numbered events until killed, reporting each committed seq."""
    release_id = journal.start_release(stack, "svc", "1.0.0", {"steps": [10, 100]})
    print(release_id, flush=True)
    i = 0
    while True:
        i += 1
        seq = journal.append(release_id, "action.done", {"i": i, "pad": "x" * 512})
        print(seq, flush=True)


def main(argv: list[str]) -> None:
    mode, backend, target, stack, holder = argv
    journal = open_journal(backend, target)
    if mode == "hold":
        hold(journal, stack, holder)
    else:
        append_forever(journal, stack)


if __name__ == "__main__":
    main(sys.argv[1:])

"""`python -m infra.gates [--stack S]... [--gate G]... [-v]`: run the offline gates.

Exit codes: 0 every gate passed on every stack; 1 a gate failed; 2 bad arguments or a
stack file that cannot be planned; 3 a validator is missing (run scripts/setup).
"""

from __future__ import annotations

import argparse
import os
import sys

from infra.gates.checkov import CheckovMissing
from infra.gates.run import GATES, STACKS, report, run_gates
from stackspec.errors import RunbookError
from stackspec.stackfile import StackFileError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="validate", description=__doc__)
    parser.add_argument("--stack", action="append", choices=STACKS, help="default: all")
    parser.add_argument("--gate", action="append", choices=GATES, help="default: all")
    parser.add_argument("-v", "--verbose", action="store_true", help="list skipped checks")
    args = parser.parse_args(argv)
    try:
        results = run_gates(args.stack or STACKS, args.gate or GATES)
    except StackFileError as exc:
        print(f"validate: {exc}", file=sys.stderr)
        return 2
    except CheckovMissing as exc:
        print(f"validate: {exc}", file=sys.stderr)
        return 3
    except RunbookError as exc:  # checkov crashed: one line, not a traceback
        print(f"validate: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    report(results, sys.stdout, verbose=args.verbose)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Skip interpreter teardown: the Pulumi mocks' event loops complain when collected late.
    os._exit(code)

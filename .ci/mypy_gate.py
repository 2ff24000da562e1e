"""mypy gate for CI: fail on any type error that is not in the checked-in baseline.

The baseline (.ci/mypy-baseline.txt) lists the errors the code had when the gate was set up, one
per line, as ``path: error: message  [code]`` without line numbers, so that editing a file does
not turn its old errors into new ones. It can only shrink: an error not in it fails the gate, and
so does an entry that no longer occurs, because a stale entry would let that error come back
unnoticed. After fixing errors (or, deliberately, to accept the current state) regenerate it with

    .venv/bin/python .ci/mypy_gate.py --update

Which packages are checked, and how, is in pyproject.toml's [tool.mypy] section.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BASELINE = REPO_ROOT / ".ci" / "mypy-baseline.txt"
ERROR_LINE = re.compile(r"^(?P<path>[^:\s]+\.py):(?P<line>\d+):(?:\d+:)? error: (?P<rest>.*)$")
UPDATE_COMMAND = ".venv/bin/python .ci/mypy_gate.py --update"


def run_mypy() -> tuple[int, list[str]]:
    """mypy's exit code and its output lines (it exits 1 for type errors, 2 when it cannot run)."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-pretty", "--no-error-summary"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, (result.stdout + result.stderr).splitlines()


def without_line_number(line: str) -> str | None:
    """``path: error: message  [code]`` for an error line, None for notes and summaries."""
    match = ERROR_LINE.match(line)
    if match is None:
        return None
    return f"{match['path']}: error: {match['rest']}"


def read_baseline() -> Counter[str]:
    if not BASELINE.is_file():
        return Counter()
    return Counter(line for line in BASELINE.read_text().splitlines() if line.strip())


def write_baseline(errors: Counter[str]) -> None:
    BASELINE.write_text("".join(f"{error}\n" for error in sorted(errors.elements())))


def report(title: str, lines: list[str]) -> None:
    print(f"{title} ({len(lines)}):")
    for line in lines:
        print(f"  {line}")


def gate(output: list[str], baseline: Counter[str]) -> int:
    current = Counter(filter(None, map(without_line_number, output)))
    new = current - baseline
    gone = baseline - current
    if new:
        # With line numbers, as mypy printed them; where a message is also in the baseline,
        # every occurrence is shown, since which one is new cannot be told.
        shown = [line for line in output if without_line_number(line) in new]
        report("mypy: errors not in the baseline, fix them", shown)
    if gone:
        report(
            f"mypy: baseline entries that no longer occur, remove them with `{UPDATE_COMMAND}`",
            sorted(gone.elements()),
        )
    if new or gone:
        return 1
    print(f"mypy: no errors beyond the baseline ({sum(baseline.values())} known).")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--update", action="store_true", help="write the current errors as the new baseline"
    )
    args = parser.parse_args()
    status, output = run_mypy()
    if status not in (0, 1):
        print("\n".join(output))
        print(f"mypy could not check the code (exit {status}).")
        return status
    if args.update:
        before = read_baseline()
        current = Counter(filter(None, map(without_line_number, output)))
        write_baseline(current)
        print(
            f"{BASELINE.relative_to(REPO_ROOT)}: {sum(current.values())} errors "
            f"(was {sum(before.values())})."
        )
        return 0
    return gate(output, read_baseline())


if __name__ == "__main__":
    sys.exit(main())

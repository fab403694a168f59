#!/usr/bin/env python3
"""Runs the README's examples top to bottom against a running server.

Every ```bash block of README.md runs, in order, in ONE bash process (so variables
set by one block serve the next, as for a reader who pastes them in turn), under
`set -euo pipefail`: an unset variable, a failing pipeline or `grep` that finds
nothing fails the check. `curl` is wrapped to report each answer's status: any 4xx
or 5xx fails the check unless the line after the command says it is expected
(`# 403 {...}`). A block a reader cannot run here says why in an HTML comment on
the line before its fence: `<!-- readme-check: skip: needs a vLLM server -->`.

    scripts/readme_check.py --base http://127.0.0.1:8080 --password '...'

Prints `readme: N passed, M failed` (blocks) for scripts/test.sh's tally.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^```bash\s*$")
SKIP = re.compile(r"<!--\s*readme-check:\s*skip:\s*(.+?)\s*-->")
EXPECTED = re.compile(r"^\s*#\s*([1-5]\d\d)\b")
ANSWER = re.compile(r"^@@readme-check (\d{3}) (\S+) (\S+)$")
BLOCK = re.compile(r"^@@readme-block (\d+)$")
README_BASE = "http://127.0.0.1:8080"
PASSWORD_PLACEHOLDER = "<printed at first start>"

PRELUDE = r"""
set -euo pipefail
curl() {
  command curl -w "%{stderr}@@readme-check %{http_code} ${GR_EXPECT:-none} %{url_effective}\n" "$@"
}
"""


def blocks(text):
    """(line number of the fence, skip reason or None, lines) of every bash block."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            skip = SKIP.search(lines[i - 1]) if i > 0 else None
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            found.append((start, skip.group(1) if skip else None, body))
        i += 1
    return found


def with_expectations(lines):
    """Prefixes a command followed by `# NNN ...` with GR_EXPECT=NNN."""
    out = list(lines)
    for i, line in enumerate(lines):
        match = EXPECTED.match(line)
        if not match or i == 0:
            continue
        start = i - 1
        while start > 0 and out[start - 1].rstrip().endswith("\\"):
            start -= 1
        if out[start].lstrip().startswith("#"):
            continue
        out[start] = f"GR_EXPECT={match.group(1)} {out[start]}"
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--readme", default=os.path.join(os.path.dirname(__file__), "..", "README.md"))
    args = parser.parse_args()
    with open(args.readme, encoding="utf-8") as f:
        found = blocks(f.read())

    script, ran, skipped = [PRELUDE], [], []
    for start, skip, body in found:
        if skip:
            skipped.append((start, skip))
            continue
        ran.append(start)
        text = "\n".join(with_expectations(body))
        text = text.replace(README_BASE, args.base).replace(PASSWORD_PLACEHOLDER, args.password)
        script.append(f'echo "@@readme-block {start}" >&2\n{text}\n')

    with tempfile.TemporaryDirectory() as work:
        result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, capture_output=True, text=True,
                                timeout=600)

    failures, block, seen = [], None, set()
    for line in result.stderr.splitlines():
        if m := BLOCK.match(line):
            block = int(m.group(1))
            seen.add(block)
        elif m := ANSWER.match(line):
            status, expected, url = m.groups()
            if expected != "none":
                if status != expected:
                    failures.append((block, f"{url}: answered {status}, the README says {expected}"))
            elif status == "000" or int(status) >= 400:
                failures.append((block, f"{url}: answered {status}"))
    if result.returncode != 0:
        tail = "\n      ".join(l for l in result.stderr.splitlines()[-8:] if not l.startswith("@@"))
        failures.append((block, f"the block stopped (exit {result.returncode}):\n      {tail}"))

    failed_blocks = {b for b, _ in failures}
    for start in ran:
        state = "FAILED" if start in failed_blocks else ("ok" if start in seen else "NOT RUN")
        print(f"  {state:7} README.md:{start}")
    for start, why in skipped:
        print(f"  skipped README.md:{start} ({why})")
    for start, what in failures:
        print(f"README.md:{start}: {what}")
    passed = sum(1 for s in ran if s in seen and s not in failed_blocks)
    failed = len(ran) - passed
    print(f"readme: {passed} passed, {failed} failed ({len(skipped)} skipped)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

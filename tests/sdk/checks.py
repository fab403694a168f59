"""What the SDK check scripts share: calls to the admin API, and the tally of checks
that scripts/test.sh reads ("<name>: N passed, M failed")."""

import json
import sys
import urllib.request


def admin_api(base):
    """`admin(path, body, token=None, method="POST")`: a call to the gateway's admin API
    at `base`, answering the JSON it returned."""

    def admin(path, body, token=None, method="POST"):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", f"Bearer {token}")
        with urllib.request.urlopen(request) as answer:
            return json.load(answer)

    return admin


class Checks:
    """One line per check; `finish` prints the summary line and exits 1 on a failure."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, name, condition, detail=""):
        if condition:
            self.passed += 1
            print(f"ok    {name}")
        else:
            self.failed += 1
            print(f"FAIL  {name}: {detail}")

    def finish(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)

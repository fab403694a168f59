"""A client generated from GaiaRouter's /openapi.json lists every operation of the
document, each with its method and path, its path parameters in the path and its
query parameters in the query string (issue 13: 33 query parameters used to be
declared as required path parameters, which broke generated clients).

Usage: check_generated_client.py <openapi-python-client> <openapi.json> <output dir>
Prints `api-client: N passed, M failed` (one check per operation).
"""

import datetime
import enum
import importlib
import inspect
import json
import re
import shutil
import subprocess
import sys
import types
import typing
import uuid
from pathlib import Path
from urllib.parse import quote

generator, document_path, output = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
document = json.loads(document_path.read_text())
shutil.rmtree(output, ignore_errors=True)
subprocess.run(
    [generator, "generate", "--path", str(document_path), "--output-path", str(output / "gaiarouter_client"),
     "--meta", "none"],
    check=True, stdout=subprocess.DEVNULL,
)
sys.path.insert(0, str(output))


class AnyBody:
    """Stands in for a request body model: only the URL and the query are checked."""

    def to_dict(self):
        return {}

    def to_multipart(self):
        return []


def sample(annotation):
    """A value of the parameter's type, as the generated code expects it."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for option in options:
        if option is type(None) or getattr(option, "__name__", "") == "Unset":
            continue
        if inspect.isclass(option) and issubclass(option, enum.Enum):
            return next(iter(option))
        for kind, value in ((bool, True), (int, 1), (float, 1.5), (uuid.UUID, uuid.uuid4()),
                            (datetime.datetime, datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)),
                            (datetime.date, datetime.date(2026, 11, 1)), (str, "x")):
            if option is kind:
                return value
    return AnyBody()


passed, failed = 0, 0
# The routes a generated client was found without (issue 13); tests/api checks the rest.
for path in ("/v1/chat/completions", "/v1/models", "/v1/messages"):
    if path not in document["paths"]:
        failed += 1
        print(f"FAIL {path} is not in the document")
for path, item in document["paths"].items():
    for method, operation in item.items():
        if method not in ("get", "put", "post", "delete", "patch"):
            continue
        name = re.sub(r"\W", "_", operation["operationId"]).lower()
        modules = list(output.glob(f"gaiarouter_client/api/*/{name}.py"))
        problems = []
        if len(modules) != 1:
            problems.append(f"no generated function {name}")
        else:
            module = importlib.import_module(
                f"gaiarouter_client.api.{modules[0].parent.name}.{name}")
            signature = inspect.signature(module._get_kwargs)
            arguments = {p.name: sample(p.annotation) for p in signature.parameters.values()}
            request = module._get_kwargs(**arguments)
            declared = operation.get("parameters", [])
            queries = {p["name"] for p in declared if p["in"] == "query"}
            path_names = {p["name"] for p in declared if p["in"] == "path"}
            expected_url = path
            for parameter in path_names:
                value = arguments.get(parameter, arguments.get(parameter + "_"))
                value = value.value if isinstance(value, enum.Enum) else value
                expected_url = expected_url.replace(f"{{{parameter}}}", quote(str(value), safe=""))
            if request["method"].lower() != method:
                problems.append(f"method {request['method']}")
            if request["url"] != expected_url:
                problems.append(f"url {request['url']}, documented {path}")
            sent = set(request.get("params", {}))
            if sent != queries:
                problems.append(f"query {sorted(sent)}, documented {sorted(queries)}")
        if problems:
            failed += 1
            print(f"FAIL {method.upper()} {path}: {'; '.join(problems)}")
        else:
            passed += 1
print(f"api-client: {passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)

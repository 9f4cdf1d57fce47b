"""What the contract tests share: our description (`schemas/openapi.yaml`), its published
branch, validators for an answer, and the provider's OpenAPI files when they are reachable.

Conventions of our description (its `info.description` says the same): a node marked
`x-quirk: NAME` is a variant of the provider's older reference pages, which the simulator serves
under its quirk NAME; a parameter marked `x-pages` is a spelling only the pages use. Without them
(`published`) the description is the shape the provider publishes.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO / "bsg_analytics" / "schemas" / "openapi.yaml"
# the provider's files: beside the checkout (../shared), or where a clone made by CI finds them
PROVIDER_DIRS = (
    Path(__file__).resolve().parents[3] / "shared" / "provider-openapi",
    Path("/work/shared/provider-openapi"),
)
PROVIDER_FILES = ("one-api.yaml", "legacy-rest.yaml")
FIXTURES = REPO / "tests" / "fixtures" / "provider"

MARKERS = ("x-quirk", "x-pages")
JSON = "application/json"
HTML = "text/html"


# ------------------------------------------------------------------ our description
@cache
def spec() -> dict[str, Any]:
    """Our description, every variant included."""
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


@cache
def published_spec() -> dict[str, Any]:
    """Our description without the pages' variants: the published branch."""
    return published(spec())


def is_variant(node: Any) -> bool:
    return isinstance(node, dict) and any(m in node for m in MARKERS)


def published(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of `doc` without every node marked `x-quirk`/`x-pages` (as a mapping's value or
    a list's item) and without every `$ref` to a component so marked."""
    marked = {
        f"#/components/{section}/{name}"
        for section, nodes in doc.get("components", {}).items()
        for name, node in nodes.items()
        if is_variant(node)
    }

    def drop(node: Any) -> bool:
        return is_variant(node) or (isinstance(node, dict) and node.get("$ref") in marked)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items() if not drop(v)}
        if isinstance(node, list):
            return [walk(v) for v in node if not drop(v)]
        return node

    out: dict[str, Any] = walk(doc)
    return out


def template_key(path: str) -> str:
    """A path template with its parameter names blanked: `/rest/sms/{}`."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def response_schema(
    doc: dict[str, Any], path: str, method: str, status: int | str, content_type: str = JSON
) -> dict[str, Any]:
    """The schema of one described answer (KeyError when it is not described)."""
    resp = doc["paths"][path][method.lower()]["responses"][str(status)]
    if "$ref" in resp:
        resp = doc["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    schema: dict[str, Any] = resp["content"][content_type]["schema"]
    return schema


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A Draft 2020-12 validator of `schema`, with `doc`'s components attached for its $refs."""
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


@cache
def _cached_validator(which: str, path: str, method: str, status: str, content_type: str):
    doc = published_spec() if which == "published" else spec()
    return validator(doc, response_schema(doc, path, method, status, content_type))


def answer_errors(
    path: str, method: str, status: int, content_type: str, body: Any, *, published_only: bool
) -> list[str]:
    """Why an answer does not meet our description (empty: it does). `body` is the parsed JSON
    (or the text of an HTML answer)."""
    which = "published" if published_only else "all"
    try:
        v = _cached_validator(which, path, method.lower(), str(status), content_type)
    except KeyError:
        return [f"{method} {path}: answer {status} {content_type} is not described"]
    out = []
    for error in v.iter_errors(body):
        # of a oneOf/anyOf, the alternative that came closest says most
        e = jsonschema.exceptions.best_match(error.context) if error.context else error
        where = "/".join(map(str, e.absolute_path)) or "<body>"
        out.append(f"{method} {path} {status}: {where}: {e.message[:300]}")
    return out


# ------------------------------------------------------------------- the provider's files
class ProviderLoader(yaml.SafeLoader):
    """The provider's YAML (which `yaml.safe_load` refuses): any tag read as plain data, and
    timestamps kept as the strings they are in the file."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


ProviderLoader.add_multi_constructor("tag:yaml.org,2002:value", _any_tag)
ProviderLoader.add_multi_constructor("", _any_tag)
ProviderLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def provider_dir() -> Path | None:
    """The folder holding the provider's two files, or None when none is reachable."""
    for d in PROVIDER_DIRS:
        if all((d / name).is_file() for name in PROVIDER_FILES):
            return d
    return None


@cache
def provider(name: str) -> dict[str, Any]:
    """One of the provider's files (`one-api.yaml`, `legacy-rest.yaml`), parsed."""
    d = provider_dir()
    assert d is not None, "the provider's files are not reachable"
    with (d / name).open(encoding="utf-8") as f:
        loaded: dict[str, Any] = yaml.load(f, Loader=ProviderLoader)
    return loaded


SKIP_NO_PROVIDER = (
    "the provider's OpenAPI files are not reachable (looked in "
    + ", ".join(dict.fromkeys(str(d) for d in PROVIDER_DIRS))
    + "): the comparison needs a checkout beside shared/provider-openapi"
)


def fixture(name: str) -> Any:
    """A fixture of tests/fixtures/provider (`name` without `.json`), parsed."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))

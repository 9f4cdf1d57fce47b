"""Our description (schemas/openapi.yaml) against the provider's OpenAPI files, endpoint by
endpoint: the published branch's parameters, request bodies and answers have the provider's
properties (names, recursively into nested objects and array items), enum values, types and
nullability; every difference is in `ALLOWED` with its reason. Also: our enums are the
statuses module's, every quirk is described, and the fixtures are the provider's examples.

The provider's files live outside the repository (../shared/provider-openapi beside the
checkout, or /work/shared/provider-openapi): the comparisons skip, saying so, without them.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from bsg_analytics.schemas import statuses

from .spec import (
    FIXTURES,
    SKIP_NO_PROVIDER,
    answer_errors,
    provider,
    provider_dir,
    published_spec,
    spec,
)

needs_provider = pytest.mark.skipif(provider_dir() is None, reason=SKIP_NO_PROVIDER)

ONE, LEGACY = "one-api.yaml", "legacy-rest.yaml"
# every endpoint the product reads: (method, path in both descriptions, the provider's file)
ENDPOINTS: list[tuple[str, str, str]] = [
    ("get", "/api/messages", ONE),
    ("get", "/api/campaigns", ONE),
    ("get", "/api/campaigns/{id}/detail", ONE),
    ("post", "/api/auth/login", ONE),
    ("post", "/api/auth/refresh", ONE),
    ("get", "/api/stat/jobs", ONE),
    ("post", "/api/stat/jobs", ONE),
    ("get", "/api/stat/jobs/{id}", ONE),
    ("delete", "/api/stat/jobs/{id}", ONE),
    ("get", "/api/accounts/balance", ONE),
    ("post", "/rest/sms/getStatus", LEGACY),
    ("get", "/rest/sms/{id}", LEGACY),
    ("get", "/rest/sms/reference/{reference}", LEGACY),
    ("get", "/rest/sms/task/{taskId}", LEGACY),
    ("get", "/rest/viber/{id}", LEGACY),
    ("get", "/rest/viber/reference/{reference}", LEGACY),
]

_SMS_BODY = (
    "error errorDescription id msisdn reference time_in time_sent time_dr status price currency"
)
_GET_STATUS_EXAMPLES = (
    "the provider's own 200 examples of getStatus (`delivered_status`, `unknown_status`, "
    "`error`) answer one SmsStatusResponse body or an error body, not its schema's "
    "`{result: [...]}`: the product reads all three"
)
_BARE_OBJECT = (
    "the provider's schema of this answer (%s200Response) is a bare `type: object`; its own "
    "example shows these fields (the pending answer and error 90 of GET are the simulator's "
    "assumptions, marked `x-simulator` or said so)"
)

# Every difference between our published branch and the provider's files, with the reason it
# is there. Keys: (endpoint, where, what). A difference missing here fails; so does an entry
# no difference uses any more.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("GET /api/messages", "200.data[].reference_id", "nullable: ours True, provider False"): (
        "the provider's schema says `reference_id: string`, but its own `single` example sends "
        "`reference_id: null` (a message sent without a reference): the product keeps such "
        "messages, so the field is nullable"
    ),
    (
        "GET /api/campaigns/{id}/detail",
        "200.data.alternative_channels",
        "type: ours ['array', 'object'], provider ['object']",
    ): (
        "the provider's schema says an object or null, but its own `details` example sends "
        "`alternative_channels: []` for a campaign without fallback (an empty PHP array): "
        "described as an empty array too"
    ),
    **{
        ("POST /rest/sms/getStatus", f"200.{name}", "extra property"): _GET_STATUS_EXAMPLES
        for name in _SMS_BODY.split()
    },
    **{
        ("GET /api/stat/jobs", f"200.{name}", "extra property"): _BARE_OBJECT % "StatJobsList"
        for name in ("error", "result")
    },
    **{
        ("GET /api/stat/jobs/{id}", f"200.{name}", "extra property"): _BARE_OBJECT % "StatJobsShow"
        for name in ("error", "status", "result", "errorDescription")
    },
}


# ------------------------------------------------------------------------------ shapes
@dataclass
class Shape:
    """What the comparison looks at in a schema, its alternatives and allOf parts merged:
    types (but null), nullability, enum values, properties, array items, and (where the schema
    has oneOf/anyOf) the property names of each alternative."""

    types: set[str] = field(default_factory=set)
    nullable: bool = False
    enum: set[Any] | None = None
    props: dict[str, Shape] = field(default_factory=dict)
    items: Shape | None = None
    variants: list[tuple[str, ...]] | None = None

    def is_null_only(self) -> bool:
        return self.nullable and not (self.types or self.props or self.items or self.enum)

    def is_empty(self) -> bool:
        return not (self.nullable or self.types or self.props or self.items or self.enum)

    def merge(self, other: Shape) -> None:
        self.types |= other.types
        self.nullable |= other.nullable
        if other.enum is not None:
            self.enum = (self.enum or set()) | other.enum
        for name, sub in other.props.items():
            self.props.setdefault(name, Shape()).merge(sub)
        if other.items is not None:
            if self.items is None:
                self.items = Shape()
            self.items.merge(other.items)
        if other.variants is not None:
            self.variants = sorted({*(self.variants or []), *other.variants})


def _ref(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def shape_of(doc: dict[str, Any], node: Any, depth: int = 0) -> Shape:
    assert depth < 40, "a schema nested too deep (a cycle?)"
    s = Shape()
    if not isinstance(node, dict):
        return s
    if "$ref" in node:
        s.merge(shape_of(doc, _ref(doc, node["$ref"]), depth + 1))
    if node.get("nullable") is True:
        s.nullable = True
    t = node.get("type")
    for one in [t] if isinstance(t, str) else t or []:
        if one == "null":
            s.nullable = True
        else:
            s.types.add(one)
    if "enum" in node:
        s.enum = {v for v in node["enum"] if v is not None}
        s.nullable |= None in node["enum"]
    for name, sub in (node.get("properties") or {}).items():
        s.props.setdefault(name, Shape()).merge(shape_of(doc, sub, depth + 1))
    if isinstance(node.get("items"), dict):
        s.items = shape_of(doc, node["items"], depth + 1)
    for sub in node.get("allOf") or []:
        s.merge(shape_of(doc, sub, depth + 1))
    for key in ("oneOf", "anyOf"):
        for sub in node.get(key) or []:
            branch = shape_of(doc, sub, depth + 1)
            if branch.is_null_only():
                s.nullable = True
                continue
            if branch.is_empty():  # a constraint only (required, not): no shape of its own
                continue
            s.merge(branch)
            s.variants = sorted({*(s.variants or []), tuple(sorted(branch.props))})
    return s


def diff(ours: Shape, theirs: Shape, where: str) -> list[tuple[str, str]]:
    """(where, what) for each difference. Alternatives are compared only where the provider
    has some: where it has none (an SMS body that may be an error body) ours may split one
    object into its cases, the properties of the cases together being the provider's."""
    out: list[tuple[str, str]] = []
    if ours.types != theirs.types:
        out.append((where, f"type: ours {sorted(ours.types)}, provider {sorted(theirs.types)}"))
    if ours.nullable != theirs.nullable:
        out.append((where, f"nullable: ours {ours.nullable}, provider {theirs.nullable}"))
    if ours.enum != theirs.enum:
        only_ours = sorted(map(str, (ours.enum or set()) - (theirs.enum or set())))
        only_theirs = sorted(map(str, (theirs.enum or set()) - (ours.enum or set())))
        out.append((where, f"enum: ours only {only_ours}, provider only {only_theirs}"))
    for name in sorted(ours.props.keys() - theirs.props.keys()):
        out.append((f"{where}.{name}", "extra property"))
    for name in sorted(theirs.props.keys() - ours.props.keys()):
        out.append((f"{where}.{name}", "missing property"))
    for name in sorted(ours.props.keys() & theirs.props.keys()):
        out += diff(ours.props[name], theirs.props[name], f"{where}.{name}")
    if ours.items is not None and theirs.items is not None:
        out += diff(ours.items, theirs.items, f"{where}[]")
    elif (ours.items is None) != (theirs.items is None):
        out.append((f"{where}[]", "items: described on one side only"))
    if theirs.variants is not None and ours.variants != theirs.variants:
        out.append((where, f"variants: ours {ours.variants}, provider {theirs.variants}"))
    return out


# ----------------------------------------------------------------- parts of an operation
BOUNDS = ("minimum", "maximum", "default", "minLength", "maxLength", "minItems", "maxItems")


def _resolved(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target = _ref(doc, node["$ref"])
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _bounds(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    s = _resolved(doc, schema)
    return {k: s[k] for k in BOUNDS if k in s}


def _parameters(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for p in op.get("parameters") or []:
        p = _resolved(doc, p)
        out[f"{p['in']} {p['name']}"] = p
    return out


def _request_schema(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    body = op.get("requestBody")
    if body is None:
        return None
    schema: dict[str, Any] = _resolved(doc, body)["content"]["application/json"]["schema"]
    return schema


def _responses(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """status -> the application/json schema of each answer described as JSON."""
    out = {}
    for status, resp in (op.get("responses") or {}).items():
        resp = _resolved(doc, resp)
        content = resp.get("content") or {}
        if "application/json" in content:
            out[str(status)] = content["application/json"]["schema"]
    return out


def operation_differences(method: str, path: str, file: str) -> list[tuple[str, str]]:
    ours_doc, theirs_doc = published_spec(), provider(file)
    ours, theirs = ours_doc["paths"][path][method], theirs_doc["paths"][path][method]
    out: list[tuple[str, str]] = []
    # parameters: the same names, types, enums and bounds
    op_params, their_params = _parameters(ours_doc, ours), _parameters(theirs_doc, theirs)
    for name in sorted(op_params.keys() - their_params.keys()):
        out.append((f"param {name}", "extra parameter"))
    for name in sorted(their_params.keys() - op_params.keys()):
        out.append((f"param {name}", "missing parameter"))
    for name in sorted(op_params.keys() & their_params.keys()):
        a, b = op_params[name]["schema"], their_params[name]["schema"]
        out += diff(shape_of(ours_doc, a), shape_of(theirs_doc, b), f"param {name}")
        if _bounds(ours_doc, a) != _bounds(theirs_doc, b):
            what = f"bounds: ours {_bounds(ours_doc, a)}, provider {_bounds(theirs_doc, b)}"
            out.append((f"param {name}", what))
    # the request body
    a_body, b_body = _request_schema(ours_doc, ours), _request_schema(theirs_doc, theirs)
    if (a_body is None) != (b_body is None):
        out.append(("request", "body described on one side only"))
    elif a_body is not None and b_body is not None:
        out += diff(shape_of(ours_doc, a_body), shape_of(theirs_doc, b_body), "request")
        a_ids = _resolved(ours_doc, a_body).get("properties", {})
        b_ids = _resolved(theirs_doc, b_body).get("properties", {})
        for name in sorted(a_ids.keys() & b_ids.keys()):
            if _bounds(ours_doc, a_ids[name]) != _bounds(theirs_doc, b_ids[name]):
                out.append((f"request.{name}", "bounds differ"))
    # every answer the provider describes, as we describe it
    a_resp, b_resp = _responses(ours_doc, ours), _responses(theirs_doc, theirs)
    for status in sorted(b_resp):
        if status not in a_resp:
            out.append((status, "answer not described"))
            continue
        a, b = shape_of(ours_doc, a_resp[status]), shape_of(theirs_doc, b_resp[status])
        out += diff(a, b, status)
    return out


# ------------------------------------------------------------------------- the tests
@needs_provider
@pytest.mark.parametrize(("method", "path", "file"), ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
def test_published_branch_is_the_providers(method, path, file):
    endpoint = f"{method.upper()} {path}"
    found = operation_differences(method, path, file)
    unexplained = [(w, what) for w, what in found if (endpoint, w, what) not in ALLOWED]
    assert unexplained == [], "\n".join(f"{endpoint} {w}: {what}" for w, what in unexplained)


@needs_provider
def test_every_allowed_difference_is_still_there():
    found = {
        (f"{m.upper()} {p}", where, what)
        for m, p, f in ENDPOINTS
        for where, what in operation_differences(m, p, f)
    }
    stale = sorted(set(ALLOWED) - found)
    assert stale == [], f"allowed differences no longer found (remove them): {stale}"


def test_every_endpoint_is_described_with_the_providers_paths():
    paths = spec()["paths"]
    for method, path, _ in ENDPOINTS:
        assert method in paths[path], (method, path)
    # the pages' paths: the campaign list's other spelling, marked as a quirk
    assert (
        paths["/api/campaign"]["x-quirk"]
        and paths["/api/campaign"]["get"] == (paths["/api/campaigns"]["get"])
    )
    assert "/api/campaign" not in published_spec()["paths"]
    assert set(published_spec()["paths"]) == {p for _, p, _ in ENDPOINTS}
    assert spec()["openapi"].startswith("3.1")


@needs_provider
def test_the_providers_paths_we_read_are_all_there():
    """The provider still publishes every path we read (a renamed path shows here first)."""
    for method, path, file in ENDPOINTS:
        assert method in provider(file)["paths"].get(path, {}), (file, method, path)


def _enum(name: str) -> list[Any]:
    values: list[Any] = spec()["components"]["schemas"][name]["enum"]
    return values


def test_enums_are_the_statuses_modules():
    schemas = spec()["components"]["schemas"]
    assert set(_enum("MessageType")) == set(statuses.CHANNELS)
    assert _enum("MessageSource") == list(statuses.SOURCES)
    assert _enum("MessageStatus") == list(statuses.MESSAGE_STATUSES)
    assert _enum("CampaignStatus") == list(statuses.CAMPAIGN_STATUSES)
    assert list(schemas["StatisticsData"]["properties"]) == list(
        statuses.CAMPAIGN_STATISTIC_STATUSES
    )
    assert _enum("LegacySmsStatus") == list(statuses.LEGACY_SMS_STATUSES)
    assert _enum("LegacyViberStatus") == list(statuses.LEGACY_VIBER_STATUSES)
    campaigns = _parameters(spec(), spec()["paths"]["/api/campaigns"]["get"])
    assert campaigns["query filter[type]"]["schema"]["enum"] == list(statuses.CAMPAIGN_LIST_TYPES)
    fallback = schemas["MessageAlternativeChannels"]["oneOf"]
    assert [next(iter(b["properties"])) for b in fallback if "properties" in b] == list(
        statuses.FALLBACK_CHANNELS
    )
    kinds = [
        schemas[name]["properties"]["type"]["enum"][0]
        for name in ("SuggestionLink", "SuggestionCall")
    ]
    assert set(kinds) < set(statuses.SUGGESTION_KINDS)
    # the pages' extra message status, and the published ones: each kept (KNOWN_...)
    quirk_status = schemas["Message"]["properties"]["status"]["oneOf"][1]["enum"]
    assert set(quirk_status) | set(statuses.MESSAGE_STATUSES) <= statuses.KNOWN_MESSAGE_STATUSES


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0.10", True),
        ("0.16", True),
        ("12.00", True),
        ("0.0100000", True),
        ("0.3000000", True),
        ("0.1", False),
        ("0.100", False),
        ("1", False),
        ("0.01000000", False),
        ("-0.10", False),
        ("0,10", False),
    ],
)
def test_money_has_2_or_7_decimals(value, ok):
    pattern = spec()["components"]["schemas"]["Money"]["pattern"]
    assert bool(re.fullmatch(pattern, value)) is ok


def _marked(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        if "x-quirk" in node or "x-pages" in node:
            out.append((where, node))
        for k, v in node.items():
            out += _marked(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _marked(v, f"{where}/{i}")
    return out


def test_every_variant_is_described():
    """Each pages' variant says what it is: `quirk NAME: ...` (or, for a spelling, the page)."""
    marked = _marked(spec())
    assert len(marked) > 20
    for where, node in marked:
        if "x-quirk" in node:
            assert str(node.get("description", "")).startswith(f"quirk {node['x-quirk']}:"), where
        else:
            assert "seed 00" in node["x-pages"], where
    names = {node["x-quirk"] for _, node in marked if "x-quirk" in node}
    assert names >= {
        "amount_field", "sent_at_name", "phone_type", "detail_wrapper", "detail_start_names",
        "list_fallback_stats", "legacy_id_type", "legacy_error_type", "suggestion_shape",
        "rcs_non_user_status", "campaign_list_path", "legacy_task_path", "messages_type_filter",
        "list_search", "options_field",
    }  # fmt: skip


def _simulator_marked(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        if "x-simulator" in node:
            out.append((where, node))
        for k, v in node.items():
            out += _simulator_marked(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _simulator_marked(v, f"{where}/{i}")
    return out


def test_every_simulator_assumption_is_described():
    """An answer the provider's files leave out and the simulator assumes is marked
    `x-simulator` and says so (`simulator: ...`); it stays in the published branch, which the
    published simulator serves."""
    marked = _simulator_marked(spec())
    assert {where for where, _ in marked} == {
        "/components/schemas/ExportError",
        "/components/schemas/StatJobPending",
        "/paths//api/stat/jobs/post/responses/422",
    }
    for where, node in marked:
        assert str(node.get("description", "")).startswith("simulator:"), where
    assert {w for w, _ in _simulator_marked(published_spec())} == {w for w, _ in marked}


# ------------------------------------------------------------------------- the fixtures
# fixture -> where the provider's file has it: (file, path, method, example) or (file, schema)
FIXTURE_SOURCES: dict[str, tuple[str, ...]] = {
    "messages__single": (ONE, "/api/messages", "get", "single"),
    "messages__schema_example": (ONE, "GetMessages200Response"),
    "campaigns__schema_example": (ONE, "SearchCampaignResource"),
    "campaign_detail__details": (ONE, "/api/campaigns/{id}/detail", "get", "details"),
    "campaign_detail__schema_example": (ONE, "CampaignDetails200Response"),
    "auth_login__schema_example": (ONE, "TokenSchema"),
    "sms_get_status__schema_example": (LEGACY, "SmsMassStatusResponse"),
    "sms_get_status__delivered_status": (LEGACY, "/rest/sms/getStatus", "post", "delivered_status"),
    "sms_get_status__unknown_status": (LEGACY, "/rest/sms/getStatus", "post", "unknown_status"),
    "sms_get_status__error": (LEGACY, "/rest/sms/getStatus", "post", "error"),
    "sms_id__schema_example": (LEGACY, "SmsStatusResponse"),
    "sms_reference__success": (LEGACY, "/rest/sms/reference/{reference}", "get", "success"),
    "sms_task__schema_example": (LEGACY, "SmsTaskStatusResponse"),
    "viber_id__delivered": (LEGACY, "/rest/viber/{id}", "get", "delivered"),
    "viber_id__with_sms_fallback": (LEGACY, "/rest/viber/{id}", "get", "with_sms_fallback"),
    "viber_id__error": (LEGACY, "/rest/viber/{id}", "get", "error"),
    "viber__schema_example": (LEGACY, "ViberStatusResponse"),
    "stat_jobs_create__success": (ONE, "/api/stat/jobs", "post", "success"),
    "stat_jobs_create__error": (ONE, "/api/stat/jobs", "post", "error"),
    "stat_jobs_list__job_list_example": (ONE, "/api/stat/jobs", "get", "job list example"),
    "stat_jobs_show__job_example": (ONE, "/api/stat/jobs/{id}", "get", "job example"),
    "stat_jobs_delete__success": (ONE, "/api/stat/jobs/{id}", "delete", "success"),
    "stat_jobs_delete__job_not_exist": (ONE, "/api/stat/jobs/{id}", "delete", "job not exist"),
    "account_balance__schema_example": (ONE, "AccountBalance200Response"),
}
# fixture -> the endpoint (method, path) whose 200 answer it is
FIXTURE_ENDPOINT: dict[str, tuple[str, str]] = {
    "messages": ("get", "/api/messages"),
    "campaigns": ("get", "/api/campaigns"),
    "campaign_detail": ("get", "/api/campaigns/{id}/detail"),
    "auth_login": ("post", "/api/auth/login"),
    "sms_get_status": ("post", "/rest/sms/getStatus"),
    "sms_id": ("get", "/rest/sms/{id}"),
    "sms_reference": ("get", "/rest/sms/reference/{reference}"),
    "sms_task": ("get", "/rest/sms/task/{taskId}"),
    "viber_id": ("get", "/rest/viber/{id}"),
    "viber": ("get", "/rest/viber/{id}"),
    "stat_jobs_create": ("post", "/api/stat/jobs"),
    "stat_jobs_list": ("get", "/api/stat/jobs"),
    "stat_jobs_show": ("get", "/api/stat/jobs/{id}"),
    "stat_jobs_delete": ("delete", "/api/stat/jobs/{id}"),
    "account_balance": ("get", "/api/accounts/balance"),
}
# provider examples our description does not accept, and why
NOT_ACCEPTED: dict[str, str] = {
    "sms_reference__success": (
        "the example lists only error, errorDescription, status and reference: without an id "
        "the product cannot key the SMS (its row's key is the message id), so it is not read"
    ),
}


def _provider_example(source: tuple[str, ...]) -> Any:
    doc = provider(source[0])
    if len(source) == 2:
        return doc["components"]["schemas"][source[1]]["example"]
    _, path, method, name = source
    op = doc["paths"][path][method]
    return op["responses"]["200"]["content"]["application/json"]["examples"][name]["value"]


def test_the_fixture_folder_is_the_listed_fixtures():
    on_disk = {p.stem for p in FIXTURES.glob("*.json")}
    assert on_disk == set(FIXTURE_SOURCES)
    readme = (FIXTURES / "README.md").read_text()
    for name in FIXTURE_SOURCES:
        assert f"{name}.json" in readme, name


@needs_provider
@pytest.mark.parametrize("name", sorted(FIXTURE_SOURCES))
def test_fixture_is_the_providers_example(name):
    body = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert body == _provider_example(FIXTURE_SOURCES[name])


@needs_provider
def test_viber_reference_examples_are_the_id_examples():
    """One fixture serves both Viber paths: the provider's examples of the two are the same."""
    for example in ("delivered", "with_sms_fallback", "error"):
        by_ref = _provider_example((LEGACY, "/rest/viber/reference/{reference}", "get", example))
        assert by_ref == _provider_example((LEGACY, "/rest/viber/{id}", "get", example))


@pytest.mark.parametrize("name", sorted(FIXTURE_SOURCES))
def test_provider_example_meets_our_description(name):
    method, path = FIXTURE_ENDPOINT[name.split("__")[0]]
    body = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    errors = answer_errors(path, method, 200, "application/json", body, published_only=True)
    if name in NOT_ACCEPTED:
        assert errors, f"{name} is accepted now: drop it from NOT_ACCEPTED"
    else:
        assert errors == []


def test_the_example_token_lives_30_days():
    """The provider's example bearer is a JWT whose payload says iat and exp, 30 days apart."""
    token = json.loads((FIXTURES / "auth_login__schema_example.json").read_text())["bearer"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600


def test_the_comparison_sees_a_difference():
    """The comparison is not blind: a property removed, an enum value added, a field made
    nullable and an item type changed each show."""
    doc = published_spec()
    changed = copy.deepcopy(doc)
    schemas = changed["components"]["schemas"]
    del schemas["Message"]["properties"]["country"]
    schemas["MessageStatus"]["enum"].append("bounced")
    schemas["Campaign"]["properties"]["currency"] = {"type": ["string", "null"]}
    schemas["FallbackMessages"]["properties"]["id"]["items"] = {"type": "string"}
    found = []
    for path in ("/api/messages", "/api/campaigns"):
        a = changed["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        b = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        found += diff(shape_of(changed, a["schema"]), shape_of(doc, b["schema"]), "200")
    assert sorted(found) == sorted(
        [
            ("200.data[].country", "missing property"),
            ("200.data[].status", "enum: ours only ['bounced'], provider only []"),
            *(
                (
                    f"200.data[].alternative_channels.{c}.id[]",
                    "type: ours ['string'], provider ['integer']",
                )
                for c in ("sms", "viber")
            ),
            ("200.data[].currency", "nullable: ours True, provider False"),
        ]
    )


def _nulls(node: Any, where: str = "") -> list[str]:
    """Keys whose value is null: in our YAML, a flow mapping cut by a stray comma."""
    if isinstance(node, dict):
        return [f"{where}/{k}" for k, v in node.items() if v is None] + [
            hit for k, v in node.items() for hit in _nulls(v, f"{where}/{k}")
        ]
    if isinstance(node, list):
        return [hit for i, v in enumerate(node) for hit in _nulls(v, f"{where}/{i}")]
    return []


def test_the_description_is_well_formed():
    assert _nulls(spec()) == []
    for item in spec()["paths"].values():
        for method, op in item.items():
            if method in ("get", "post"):
                for status, resp in op["responses"].items():
                    assert "$ref" in resp or resp.get("description"), (method, status)


def test_the_description_is_valid_openapi_3_1():
    """With openapi-spec-validator installed (not a dev dependency: skipped without it)."""
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec())

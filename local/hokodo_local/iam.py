"""Permissions proved, not only declared: every AWS call a function makes locally is evaluated against that function's own
role, as template.yaml gives it once translated, before it reaches moto.

moto enforces IAM only partly (identity policies of a few services, no conditions, and the role policies its own
CloudFormation creates are stored in a shape its evaluator cannot read: /work/shared/notes/moto-iam.md), so the local
stack evaluates them itself:

- **the roles** (`roles_of`): the SAM translation gives each function an `AWS::IAM::Role` with inline `Policies` (SAM's
  policy templates already expanded into statements) and `ManagedPolicyArns` (AWSLambdaBasicExecutionRole, the SQS and
  DynamoDB stream execution roles SAM adds for event sources...: their documents are AWS's, as moto keeps a copy of
  them). Intrinsics in statements are resolved with the stack's `Resolver`, so `!GetAtt IdempotencyTable.Arn`, `!Sub`
  and `!Ref HokodoApiKeySecret` become the local ARNs.
- **the calls** (`Mapper`): a botocore handler on `before-parameter-build` (registered last, in
  `botocore.handlers.BUILTIN_HANDLERS`, so every session made from now on has it: boto3's default one, Powertools'
  own for Parameters and idempotency, the local stack's) gives each call's operation and parameters; they are mapped
  to the IAM action and resource AWS would authorise (`OPERATIONS`), with the condition keys the template uses
  (`dynamodb:LeadingKeys`: the partition keys the call touches). An operation with no mapping is denied, saying so.
- **the decision** (`evaluate`): explicit Deny wins, then an Allow whose Action, Resource and Condition match
  (wildcards; String*/Arn*/Bool/Null operators with ForAllValues/ForAnyValue and IfExists); otherwise denied, naming
  the statement whose condition failed. A condition on a key this evaluator does not know is never taken as met.
- **who calls** (`acting_as`): the runner marks a function's cold start and invocations (`load_handler`), and the
  receives and deletes its event source mapping makes on its behalf (Lambda's poller uses the function's role too).
  The mark is a context variable, carried into the thread pools a function starts (its batch's workers). Calls made
  by the local stack itself (creating resources, the demo's sends, reading DLQs) carry no mark and are not evaluated.

A denied call raises `AccessDenied` (a botocore ClientError, as AWS answers), and the invocation then fails with
`PermissionDenied` naming the function, the action, the resource and why, even when the function caught the error;
`LocalStack` raises it again when it stops. Every decision is kept (`Permissions.decisions`), so a test can assert
that every call was allowed, print what each function used (`Permissions.table`), or evaluate the recorded calls
against other roles (`Permissions.reevaluate`: a template with a permission removed).
"""

from __future__ import annotations

import base64
import fnmatch
import functools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from .intrinsics import ACCOUNT_ID, Resolver, UnknownIntrinsic

log = logging.getLogger("hokodo_local")

FUNCTION = "function"
EVENT_SOURCE_MAPPING = "event source mapping"


# -- the roles ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    label: str  # where it comes from: "ShipmentsFunctionRolePolicy0/OwnItems", "AWSLambdaBasicExecutionRole[0]"
    effect: str  # Allow | Deny
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] | None = None
    condition: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # operator -> key -> values
    managed: bool = False  # from an AWS managed policy
    unresolved: str | None = None  # why its intrinsics could not be resolved (an Allow is then ignored, a Deny denies)

    def grants(self, action: str) -> bool:
        if self.not_actions is not None:
            return not any(_action_matches(p, action) for p in self.not_actions)
        return any(_action_matches(p, action) for p in self.actions)

    def covers(self, resource: str) -> bool:
        if self.not_resources is not None:
            return not any(_glob(p, resource) for p in self.not_resources)
        return any(_glob(p, resource) for p in self.resources)


@dataclass(frozen=True)
class Role:
    function: str  # the function's logical id
    logical_id: str | None  # the role's (None: not a role of the template)
    statements: tuple[Statement, ...]
    notes: tuple[str, ...] = ()  # what could not be read (an unknown managed policy, a role outside the template)


def roles_of(translated: dict[str, Any], resolver: Resolver) -> dict[str, Role]:
    """Each function's role in the translated template (function logical id -> Role), its intrinsics resolved."""
    resources = translated.get("Resources", {})
    roles = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        role = resource.get("Properties", {}).get("Role")
        role_id = role.get("Fn::GetAtt", [None])[0] if isinstance(role, dict) else None
        if role_id not in resources or resources[role_id].get("Type") != "AWS::IAM::Role":
            roles[logical_id] = Role(logical_id, None, (), (f"its role {json.dumps(role)} is not a role of the template",))
            continue
        roles[logical_id] = _role(logical_id, role_id, resources, resolver)
    return roles


def _role(function: str, role_id: str, resources: dict[str, Any], resolver: Resolver) -> Role:
    properties = resources[role_id].get("Properties", {})
    statements: list[Statement] = []
    notes: list[str] = []
    for n, policy in enumerate(_chosen(properties.get("Policies", []), resolver, notes)):
        statements += _statements(policy.get("PolicyName", f"{role_id}Policy{n}"), policy.get("PolicyDocument", {}), resolver)
    for arn in _chosen(properties.get("ManagedPolicyArns", []), resolver, notes):
        target = arn.get("Ref") if isinstance(arn, dict) and set(arn) == {"Ref"} else None
        if target in resources and resources[target].get("Type") == "AWS::IAM::ManagedPolicy":
            document = resources[target].get("Properties", {}).get("PolicyDocument", {})
            statements += _statements(target, document, resolver)
            continue
        try:
            name = str(resolver.resolve(arn))
        except UnknownIntrinsic as exc:
            notes.append(f"managed policy {json.dumps(arn)} not resolved ({exc}): not counted")
            continue
        document = aws_managed_policy(name)
        if document is None:
            notes.append(f"managed policy {name}: its document is unknown here, not counted")
            continue
        statements += _statements(name.rsplit("/", 1)[-1], document, resolver, managed=True)
    for logical_id, resource in resources.items():  # AWS::IAM::Policy / ManagedPolicy resources attached to the role
        if resource.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            attached = resource.get("Properties", {}).get("Roles", [])
            if {"Ref": role_id} in attached:
                statements += _statements(logical_id, resource["Properties"].get("PolicyDocument", {}), resolver)
    return Role(function, role_id, tuple(statements), tuple(notes))


def _chosen(entries: list[Any], resolver: Resolver, notes: list[str]) -> list[Any]:
    """A role's list of policies or managed policy ARNs, each `Fn::If` evaluated (`AWS::NoValue` drops the entry)."""
    chosen = []
    for entry in entries:
        value = entry
        if isinstance(entry, dict) and set(entry) == {"Fn::If"}:
            try:
                value = resolver.resolve(entry)
            except UnknownIntrinsic as exc:
                notes.append(f"{json.dumps(entry)} not resolved ({exc}): not counted")
                continue
        if value is not None:
            chosen.append(value)
    return chosen


def _statements(name: str, document: dict[str, Any], resolver: Resolver, *, managed: bool = False) -> list[Statement]:
    raw = document.get("Statement", [])
    found = []
    for n, statement in enumerate(raw if isinstance(raw, list) else [raw]):
        label = f"{name}/{statement['Sid']}" if statement.get("Sid") else f"{name}[{n}]"
        try:
            resolved, unresolved = resolver.resolve(statement), None
        except UnknownIntrinsic as exc:
            resolved, unresolved = statement, str(exc)
        if resolved is None:  # an Fn::If that chose AWS::NoValue
            continue
        condition = {
            operator: {key: _strings(values) for key, values in (keys or {}).items()}
            for operator, keys in (resolved.get("Condition") or {}).items()
        }
        found.append(
            Statement(
                label=label,
                effect=resolved.get("Effect", "Allow"),
                actions=_strings(resolved.get("Action", ())),
                not_actions=_strings(resolved["NotAction"]) if "NotAction" in resolved else None,
                resources=_strings(resolved.get("Resource", ())) if not unresolved else (),
                not_resources=_strings(resolved["NotResource"]) if "NotResource" in resolved and not unresolved else None,
                condition=condition,
                managed=managed,
                unresolved=unresolved,
            )
        )
    return found


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in value)
    return (str(value).lower() if isinstance(value, bool) else str(value),)


@functools.cache
def _aws_managed_policies() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def aws_managed_policy(arn: str) -> dict[str, Any] | None:
    """The document of an AWS managed policy (arn:aws:iam::aws:policy/<path><name>), from moto's copy of AWS's."""
    match = re.fullmatch(r"arn:aws[\w-]*:iam::aws:policy(/.*/|/)([^/]+)", arn)
    if not match:
        return None
    policy = _aws_managed_policies().get(match.group(2))
    if policy is None or policy.get("Path", "/") != match.group(1):
        return None
    return policy["Document"]


# -- the calls ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One authorisation AWS makes for a call (a call may need several: BatchGetItem, one per table)."""

    action: str  # dynamodb:UpdateItem
    resource: str  # arn:aws:dynamodb:eu-west-1:123456789012:table/...
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()  # condition keys AWS would supply, with their values
    unknown: tuple[str, ...] = ()  # condition keys AWS would supply that could not be derived here

    def value(self, key: str) -> tuple[str, ...] | None:
        return next((values for name, values in self.context if name.lower() == key.lower()), None)


class Unmapped(LookupError):
    """A call this evaluator cannot map to its IAM action and resource."""


@dataclass(frozen=True)
class TableKeys:
    hash_key: str  # the table's partition key attribute
    index_hash_keys: dict[str, str] = field(default_factory=dict)  # index name -> its partition key attribute


class Mapper:
    """Operation + parameters -> the Requests AWS would authorise. `tables`: table name -> its keys; `secrets`: name ->
    ARN (a SecretId may be either)."""

    def __init__(
        self, *, account: str = ACCOUNT_ID, tables: dict[str, TableKeys] | None = None, secrets: dict[str, str] | None = None
    ):
        self.account = account
        self.tables = tables or {}
        self.secrets = secrets or {}

    def requests(self, service: str, operation: str, params: dict[str, Any], region: str) -> list[Request]:
        mapping = OPERATIONS.get((service, operation))
        if mapping is None:
            raise Unmapped(f"no mapping of {service}.{operation} to its IAM action and resource (hokodo_local.iam.OPERATIONS)")
        try:
            return mapping(self, params, region)
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise Unmapped(f"{service}.{operation}: could not read its resource from the parameters ({exc!r})") from None

    # -- DynamoDB
    def table_arn(self, table: str, region: str) -> str:
        return table if table.startswith("arn:") else f"arn:aws:dynamodb:{region}:{self.account}:table/{table}"

    def _table_name(self, table: str) -> str:
        return table.rsplit("/", 1)[-1] if table.startswith("arn:") else table

    def item_request(self, action: str, table: str, keys: list[dict[str, Any]], region: str) -> Request:
        """An item operation: dynamodb:LeadingKeys are the partition key values of `keys` (items or keys)."""
        schema = self.tables.get(self._table_name(table))
        if schema is None:
            return Request(action, self.table_arn(table, region), unknown=("dynamodb:LeadingKeys",))
        values = tuple(sorted({_scalar(k[schema.hash_key]) for k in keys}))
        return Request(action, self.table_arn(table, region), (("dynamodb:LeadingKeys", values),))

    def query_request(self, action: str, params: dict[str, Any], region: str) -> Request:
        table, index = params["TableName"], params.get("IndexName")
        resource = self.table_arn(table, region) + (f"/index/{index}" if index else "")
        if action == "dynamodb:Scan":
            return Request(action, resource)
        schema = self.tables.get(self._table_name(table))
        attribute = None if schema is None else schema.index_hash_keys.get(index) if index else schema.hash_key
        value = _key_condition_value(params, attribute) if attribute else None
        if value is None:
            return Request(action, resource, unknown=("dynamodb:LeadingKeys",))
        return Request(action, resource, (("dynamodb:LeadingKeys", (value,)),))

    # -- SQS, S3, Secrets Manager, EventBridge, SSM
    def queue_arn(self, params: dict[str, Any], region: str) -> str:
        if "QueueUrl" in params:
            account, name = urlsplit(params["QueueUrl"]).path.strip("/").split("/")[-2:]
            return f"arn:aws:sqs:{region}:{account}:{name}"
        return f"arn:aws:sqs:{region}:{params.get('QueueOwnerAWSAccountId') or self.account}:{params['QueueName']}"

    def secret_arn(self, secret_id: str, region: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        if secret_id in self.secrets:
            return self.secrets[secret_id]
        raise ValueError(f"secret {secret_id!r} is not one of the stack's: its ARN is unknown here")

    def bus_arn(self, bus: str | None, region: str) -> str:
        bus = bus or "default"
        return bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{self.account}:event-bus/{bus}"


def _scalar(attribute: dict[str, Any]) -> str:
    [(kind, value)] = attribute.items()
    if kind == "B":
        return base64.b64encode(value if isinstance(value, bytes) else str(value).encode()).decode()
    return str(value)


def _key_condition_value(params: dict[str, Any], attribute: str) -> str | None:
    """The value a Query's key condition gives the partition key `attribute` (`#pk = :v`), if it says."""
    if "KeyConditions" in params:
        condition = params["KeyConditions"].get(attribute)
        if condition and condition.get("ComparisonOperator") == "EQ":
            return _scalar(condition["AttributeValueList"][0])
        return None
    names, values = params.get("ExpressionAttributeNames", {}), params.get("ExpressionAttributeValues", {})
    for part in re.split(r"\s+and\s+", params.get("KeyConditionExpression", ""), flags=re.IGNORECASE):
        match = re.fullmatch(r"\s*\(?\s*([#\w.]+|:\w+)\s*=\s*([#\w.]+|:\w+)\s*\)?\s*", part)
        if not match:
            continue
        left, right = match.groups()
        name, value = (left, right) if right.startswith(":") else (right, left)
        if names.get(name, name) == attribute and value in values:
            return _scalar(values[value])
    return None


def _dynamodb_item(action: str, key: str) -> Callable[[Mapper, dict[str, Any], str], list[Request]]:
    return lambda m, p, r: [m.item_request(action, p["TableName"], [p[key]], r)]


def _batch_get(m: Mapper, p: dict[str, Any], r: str) -> list[Request]:
    return [m.item_request("dynamodb:BatchGetItem", table, request["Keys"], r) for table, request in p["RequestItems"].items()]


def _batch_write(m: Mapper, p: dict[str, Any], r: str) -> list[Request]:
    def key(write: dict[str, Any]) -> dict[str, Any]:
        return write["PutRequest"]["Item"] if "PutRequest" in write else write["DeleteRequest"]["Key"]

    return [
        m.item_request("dynamodb:BatchWriteItem", table, [key(w) for w in writes], r)
        for table, writes in p["RequestItems"].items()
    ]


_TRANSACT = {"Put": ("dynamodb:PutItem", "Item"), "Update": ("dynamodb:UpdateItem", "Key"),
             "Delete": ("dynamodb:DeleteItem", "Key"), "ConditionCheck": ("dynamodb:ConditionCheckItem", "Key"),
             "Get": ("dynamodb:GetItem", "Key")}  # fmt: skip


def _transact(m: Mapper, p: dict[str, Any], r: str) -> list[Request]:
    found = []
    for item in p["TransactItems"]:
        [(kind, body)] = item.items()
        action, key = _TRANSACT[kind]
        found.append(m.item_request(action, body["TableName"], [body[key]], r))
    return found


def _stream_arn(p: dict[str, Any]) -> str:
    return p["StreamArn"] if "StreamArn" in p else p["ShardIterator"].split("|", 1)[0]  # an iterator starts with its stream's ARN


def _object(action: str, versioned: str | None = None) -> Callable[[Mapper, dict[str, Any], str], list[Request]]:
    """An S3 object operation: `versioned` is the action when a VersionId is given (s3:GetObjectVersion...)."""
    return lambda m, p, r: [
        Request(versioned if versioned and p.get("VersionId") else action, f"arn:aws:s3:::{p['Bucket']}/{p['Key']}")
    ]


def _bucket(action: str) -> Callable[[Mapper, dict[str, Any], str], list[Request]]:
    return lambda m, p, r: [Request(action, f"arn:aws:s3:::{p['Bucket']}")]


def _queue(action: str) -> Callable[[Mapper, dict[str, Any], str], list[Request]]:
    return lambda m, p, r: [Request(action, m.queue_arn(p, r))]


def _secret(action: str) -> Callable[[Mapper, dict[str, Any], str], list[Request]]:
    return lambda m, p, r: [Request(action, m.secret_arn(p["SecretId"], r))]


def _put_events(m: Mapper, p: dict[str, Any], r: str) -> list[Request]:
    return [Request("events:PutEvents", arn) for arn in dict.fromkeys(m.bus_arn(e.get("EventBusName"), r) for e in p["Entries"])]


def _parameter_arn(m: Mapper, name: str, r: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:ssm:{r}:{m.account}:parameter/{name.lstrip('/')}"


# (botocore service name, operation) -> the Requests AWS authorises for it.
OPERATIONS: dict[tuple[str, str], Callable[[Mapper, dict[str, Any], str], list[Request]]] = {
    ("dynamodb", "GetItem"): _dynamodb_item("dynamodb:GetItem", "Key"),
    ("dynamodb", "PutItem"): _dynamodb_item("dynamodb:PutItem", "Item"),
    ("dynamodb", "UpdateItem"): _dynamodb_item("dynamodb:UpdateItem", "Key"),
    ("dynamodb", "DeleteItem"): _dynamodb_item("dynamodb:DeleteItem", "Key"),
    ("dynamodb", "BatchGetItem"): _batch_get,
    ("dynamodb", "BatchWriteItem"): _batch_write,
    ("dynamodb", "TransactWriteItems"): _transact,
    ("dynamodb", "TransactGetItems"): _transact,
    ("dynamodb", "Query"): lambda m, p, r: [m.query_request("dynamodb:Query", p, r)],
    ("dynamodb", "Scan"): lambda m, p, r: [m.query_request("dynamodb:Scan", p, r)],
    ("dynamodb", "DescribeTable"): lambda m, p, r: [Request("dynamodb:DescribeTable", m.table_arn(p["TableName"], r))],
    ("dynamodbstreams", "DescribeStream"): lambda m, p, r: [Request("dynamodb:DescribeStream", _stream_arn(p))],
    ("dynamodbstreams", "GetShardIterator"): lambda m, p, r: [Request("dynamodb:GetShardIterator", _stream_arn(p))],
    ("dynamodbstreams", "GetRecords"): lambda m, p, r: [Request("dynamodb:GetRecords", _stream_arn(p))],
    ("dynamodbstreams", "ListStreams"): lambda m, p, r: [Request("dynamodb:ListStreams", "*")],
    ("sqs", "SendMessage"): _queue("sqs:SendMessage"),
    ("sqs", "SendMessageBatch"): _queue("sqs:SendMessage"),
    ("sqs", "ReceiveMessage"): _queue("sqs:ReceiveMessage"),
    ("sqs", "DeleteMessage"): _queue("sqs:DeleteMessage"),
    ("sqs", "DeleteMessageBatch"): _queue("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _queue("sqs:ChangeMessageVisibility"),
    ("sqs", "ChangeMessageVisibilityBatch"): _queue("sqs:ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): _queue("sqs:GetQueueAttributes"),
    ("sqs", "GetQueueUrl"): _queue("sqs:GetQueueUrl"),
    ("sqs", "PurgeQueue"): _queue("sqs:PurgeQueue"),
    ("s3", "GetObject"): _object("s3:GetObject", "s3:GetObjectVersion"),
    ("s3", "HeadObject"): _object("s3:GetObject", "s3:GetObjectVersion"),
    ("s3", "GetObjectTagging"): _object("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
    ("s3", "PutObjectTagging"): _object("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    ("s3", "DeleteObjectTagging"): _object("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
    ("s3", "PutObject"): _object("s3:PutObject"),
    ("s3", "DeleteObject"): _object("s3:DeleteObject", "s3:DeleteObjectVersion"),
    ("s3", "ListObjects"): _bucket("s3:ListBucket"),
    ("s3", "ListObjectsV2"): _bucket("s3:ListBucket"),
    ("s3", "ListObjectVersions"): _bucket("s3:ListBucketVersions"),
    ("s3", "HeadBucket"): _bucket("s3:ListBucket"),
    ("secretsmanager", "GetSecretValue"): _secret("secretsmanager:GetSecretValue"),
    ("secretsmanager", "DescribeSecret"): _secret("secretsmanager:DescribeSecret"),
    ("secretsmanager", "PutSecretValue"): _secret("secretsmanager:PutSecretValue"),
    ("events", "PutEvents"): _put_events,
    ("ssm", "GetParameter"): lambda m, p, r: [Request("ssm:GetParameter", _parameter_arn(m, p["Name"], r))],
    ("ssm", "GetParameters"): lambda m, p, r: [Request("ssm:GetParameters", _parameter_arn(m, n, r)) for n in p["Names"]],
    ("ssm", "GetParametersByPath"): lambda m, p, r: [Request("ssm:GetParametersByPath", _parameter_arn(m, p["Path"], r))],
}


# -- the decision ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    allowed_by: tuple[str, ...] = ()  # the Allow statements that matched


class _CannotEvaluate(Exception):
    pass


# Condition keys supplied here when AWS would supply them; a condition on any other key is never taken as met.
KNOWN_CONDITION_KEYS = {"dynamodb:leadingkeys"}

_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda v, p: v == p,
    "StringNotEquals": lambda v, p: v != p,
    "StringEqualsIgnoreCase": lambda v, p: v.lower() == p.lower(),
    "StringNotEqualsIgnoreCase": lambda v, p: v.lower() != p.lower(),
    "StringLike": lambda v, p: _glob(p, v),
    "StringNotLike": lambda v, p: not _glob(p, v),
    "ArnEquals": lambda v, p: v == p,
    "ArnNotEquals": lambda v, p: v != p,
    "ArnLike": lambda v, p: _glob(p, v),
    "ArnNotLike": lambda v, p: not _glob(p, v),
    "Bool": lambda v, p: v.lower() == p.lower(),
}
_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def evaluate(role: Role, request: Request) -> Verdict:
    """AWS's order for a single account's identity policies: an explicit Deny wins, then an Allow, else denied."""
    allowed_by, failed, cannot = [], [], []
    for statement in role.statements:
        if not statement.grants(request.action):
            continue
        if statement.unresolved:
            if statement.effect == "Deny":
                return Verdict(False, f"{statement.label} (Deny) could not be resolved: {statement.unresolved}")
            cannot.append(f"{statement.label} could not be resolved ({statement.unresolved})")
            continue
        if not statement.covers(request.resource):
            continue
        try:
            unmet = _unmet_condition(statement, request)
        except _CannotEvaluate as exc:
            if statement.effect == "Deny":
                return Verdict(False, f"{statement.label} (Deny) cannot be evaluated here: {exc}")
            cannot.append(f"{statement.label}: {exc}")
            continue
        if unmet is not None:
            failed.append(f"{statement.label} allows it only if {unmet}" if statement.effect == "Allow" else "")
            continue
        if statement.effect == "Deny":
            return Verdict(False, f"denied explicitly by {statement.label}")
        allowed_by.append(statement.label)
    if allowed_by:
        return Verdict(True, "allowed by " + ", ".join(allowed_by), tuple(allowed_by))
    why = [f for f in failed if f] + cannot + list(role.notes)
    return Verdict(False, "; ".join(why) if why else f"no statement of {role.logical_id or 'its role'} allows it")


def _unmet_condition(statement: Statement, request: Request) -> str | None:
    """The first condition of `statement` that `request` does not meet, described; None when all are met."""
    for operator, keys in statement.condition.items():
        for key, expected in keys.items():
            if not _condition_met(operator, key, expected, request):
                values = request.value(key)
                shown = "absent" if values is None else list(values)
                return f"{operator} {key} {list(expected)} (the call's: {shown})"
    return None


def _condition_met(operator: str, key: str, expected: tuple[str, ...], request: Request) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if key.lower() not in KNOWN_CONDITION_KEYS:
        raise _CannotEvaluate(f"condition key {key} is not known to the local evaluator")
    if any(k.lower() == key.lower() for k in request.unknown):
        raise _CannotEvaluate(f"the call's {key} could not be derived here (e.g. a table whose key schema is unknown)")
    values = request.value(key)
    if base == "Null":
        return (values is None) == (expected[0].lower() == "true")
    compare = _OPERATORS.get(base)
    if compare is None or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise _CannotEvaluate(f"condition operator {operator} is not supported by the local evaluator")
    if values is None:
        return qualifier == "ForAllValues" or if_exists
    negated = base in _NEGATED

    def one(value: str) -> bool:  # a negated operator: none of the patterns; otherwise: any of them
        return all(compare(value, p) for p in expected) if negated else any(compare(value, p) for p in expected)

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in values)
    return len(values) == 1 and one(values[0])


def _glob(pattern: str, value: str) -> bool:
    """IAM's wildcards, case-sensitive: * any run of characters, ? one."""
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _action_matches(pattern: str, action: str) -> bool:
    return pattern == "*" or _glob(pattern.lower(), action.lower())


# -- the decisions of a run -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    function: str  # logical id
    via: str  # FUNCTION or EVENT_SOURCE_MAPPING
    operation: str  # dynamodb.UpdateItem
    request: Request | None  # None: unmapped


@dataclass
class Decision:
    call: Call
    verdict: Verdict
    count: int = 1

    @property
    def principal(self) -> str:
        return self.call.function if self.call.via == FUNCTION else f"{self.call.function} ({self.call.via})"

    @property
    def action(self) -> str:
        return self.call.request.action if self.call.request else f"{self.call.operation} (unmapped)"

    def describe(self) -> str:
        request = self.call.request
        what = f"{request.action} on {request.resource}" if request else self.call.operation
        keys = "".join(f" [{k}: {', '.join(v)}]" for k, v in request.context) if request else ""
        verdict = "allowed" if self.verdict.allowed else "DENIED"
        return f"{self.principal}: {what}{keys} {verdict}: {self.verdict.reason}"


class PermissionDenied(Exception):
    """An invocation (or the local stack) made AWS calls its role does not allow."""

    def __init__(self, decisions: list[Decision]):
        self.decisions = decisions
        lines = [f"- {d.describe()}" for d in decisions]
        heading = f"{len(decisions)} AWS call(s) denied by the role template.yaml gives the function:"
        super().__init__("\n".join([heading, *lines]))


class AccessDenied(ClientError):
    """What the denied call raises, as AWS would answer it (403 AccessDenied), with the local evaluator's reason."""

    def __init__(self, decision: Decision, operation: str, service: str):
        self.decision = decision
        code = "AccessDenied" if service == "s3" else "AccessDeniedException"
        message = f"local IAM (template.yaml): {decision.describe()}"
        super().__init__({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 403}}, operation)


class Permissions:
    """The roles of one local stack's functions, and every decision taken for their calls."""

    def __init__(
        self, roles: dict[str, Role], mapper: Mapper, resolver: Resolver | None = None, names: dict[str, str] | None = None
    ):
        self.roles = roles
        self.mapper = mapper
        self.resolver = resolver
        self.names = names or {}  # ARN -> the template's logical id, to show resources by the template's names
        self._decisions: dict[Call, Decision] = {}
        self._lock = threading.Lock()

    @classmethod
    def of_stack(cls, stack: Any) -> Permissions:
        """From the stack's translated template, resolved against what the stack holds."""
        resources = stack.translated.get("Resources", {})
        tables = {}
        for logical_id, resource in resources.items():
            if resource.get("Type") == "AWS::DynamoDB::Table" and logical_id in stack.resolver.refs:
                keys = ("KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes")
                properties = stack.resolver.resolve({k: v for k, v in resource.get("Properties", {}).items() if k in keys})
                hash_key = next(k["AttributeName"] for k in properties["KeySchema"] if k["KeyType"] == "HASH")
                indexes = {
                    index["IndexName"]: next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH")
                    for index in properties.get("GlobalSecondaryIndexes", []) + properties.get("LocalSecondaryIndexes", [])
                }
                tables[stack.resolver.refs[logical_id]] = TableKeys(hash_key, indexes)
        secrets = {s.arn.rsplit(":", 1)[-1].rsplit("-", 1)[0]: s.arn for s in stack.secrets.values()}
        names = {arn: lid for (lid, attribute), arn in stack.resolver.attributes.items() if attribute == "Arn"}
        names |= {arn: f"{lid}/stream" for (lid, attribute), arn in stack.resolver.attributes.items() if attribute == "StreamArn"}
        names |= {secret.arn: lid for lid, secret in stack.secrets.items()}
        mapper = Mapper(tables=tables, secrets=secrets)
        return cls(roles_of(stack.translated, stack.resolver), mapper, stack.resolver, names)

    def roles_from(self, translated: dict[str, Any]) -> dict[str, Role]:
        """The roles another translation of the template gives (a mutated copy), resolved against this stack."""
        if self.resolver is None:
            raise ValueError("no resolver: these permissions were not made from a stack")
        return roles_of(translated, self.resolver)

    def roles_for(self, template: Any, parameters: dict[str, str]) -> dict[str, Role]:
        """The roles `template` (a SamTemplate, e.g. with a permission removed) gives, translated with `parameters` (the
        stack's), resolved against this stack."""
        from .stack import ARTIFACTS_BUCKET, PLACEHOLDER_KEY, REGION

        return self.roles_from(template.translate(f"s3://{ARTIFACTS_BUCKET}/{PLACEHOLDER_KEY}", parameters, REGION))

    # -- deciding
    def decide(
        self, function: str, service: str, operation: str, params: dict[str, Any], *, via: str, region: str
    ) -> list[Decision]:
        """Evaluate one call of `function` (made `via` itself or its event source mapping), and record it."""
        role = self.roles.get(function) or Role(function, None, (), (f"{function} is not a function of the template",))
        name = f"{service}.{operation}"
        try:
            requests: list[Request | None] = list(self.mapper.requests(service, operation, params, region))
            verdicts = [evaluate(role, r) for r in requests if r is not None]  # (never None: typed for the except's)
        except Unmapped as exc:
            requests, verdicts = [None], [Verdict(False, f"not evaluated: {exc}")]
        return [self._record(Call(function, via, name, r), v) for r, v in zip(requests, verdicts, strict=True)]

    def _record(self, call: Call, verdict: Verdict) -> Decision:
        with self._lock:
            decision = self._decisions.get(call)
            if decision is None:
                decision = self._decisions[call] = Decision(call, verdict)
            else:
                decision.count += 1
            return decision

    def reevaluate(self, roles: dict[str, Role]) -> list[Decision]:
        """Every call recorded so far, evaluated against other roles (e.g. a template with a permission removed)."""
        decided = []
        for decision in self.decisions:
            call = decision.call
            role = roles.get(call.function) or Role(call.function, None, (), (f"{call.function} is not in that template",))
            verdict = evaluate(role, call.request) if call.request else decision.verdict
            decided.append(Decision(call, verdict, decision.count))
        return decided

    # -- what was decided
    @property
    def decisions(self) -> list[Decision]:
        with self._lock:
            return list(self._decisions.values())

    def denied(self) -> list[Decision]:
        return [d for d in self.decisions if not d.verdict.allowed]

    def raise_if_denied(self) -> None:
        denied = self.denied()
        if denied:
            raise PermissionDenied(denied)

    def used(self) -> dict[str, dict[str, set[str]]]:
        """principal -> action -> the resources it was used on (allowed or not)."""
        found: dict[str, dict[str, set[str]]] = {}
        for d in self.decisions:
            found.setdefault(d.principal, {}).setdefault(d.action, set()).add(d.call.request.resource if d.call.request else "?")
        return found

    def display(self, resource: str) -> str:
        """A resource by the template's name: IdempotencyTable, IdempotencyTable/index/open-deferred-payments,
        DocumentsBucket/invoices/*, ShipmentsDeadLetterQueue..."""
        if resource in self.names:
            return self.names[resource]
        for arn, name in self.names.items():
            if resource.startswith(arn + "/"):
                parts = resource[len(arn) + 1 :].split("/")
                return f"{name}/" + ("/".join(parts[:2]) if parts[0] == "index" else parts[0] + ("/*" if len(parts) > 1 else ""))
        return _short(resource)

    def table(self) -> str:
        """What each function (and its event source mapping) used: each action, with the resources it was used on, by
        the template's names. Denied actions are marked."""
        denied = {(d.principal, d.action) for d in self.denied()}
        used = self.used()
        width = max((len(p) for p in used), default=8)
        lines = []
        for principal in sorted(used):
            shown = []
            for action in sorted(used[principal]):
                resources = sorted({self.display(r) for r in used[principal][action]})
                mark = " DENIED" if (principal, action) in denied else ""
                shown.append(f"{action} ({', '.join(resources)}){mark}")
            lines.append(f"{principal:<{width}}  " + f"\n{'':<{width}}  ".join(shown))
        return "\n".join(lines)

    def unused(self) -> dict[str, dict[str, list[str]]]:
        """function -> statement (of the template's own policies) -> actions it grants that no allowed call used."""
        found: dict[str, dict[str, list[str]]] = {}
        for function, role in self.roles.items():
            calls = [d for d in self.decisions if d.call.function == function and d.verdict.allowed and d.call.request]
            for statement in role.statements:
                if statement.managed or statement.effect != "Allow" or statement.not_actions is not None:
                    continue
                idle = [a for a in statement.actions if not any(_action_matches(a, d.call.request.action) and statement.label in
                        d.verdict.allowed_by for d in calls)]  # fmt: skip
                if idle:
                    found.setdefault(function, {})[statement.label] = idle
        return found


def _short(arn: str) -> str:
    """A resource, shortly: the part after the service's type (table/..., a queue's name, secret:..., event-bus/...)."""
    if not arn.startswith("arn:"):
        return arn
    tail = arn.split(":", 5)[5]
    return tail


# -- who is calling -------------------------------------------------------------------------------------------------
@dataclass
class _Invocation:
    denied: list[Decision] = field(default_factory=list)


@dataclass(frozen=True)
class _Principal:
    permissions: Permissions
    function: str
    via: str
    invocation: _Invocation


_PRINCIPAL: ContextVar[_Principal | None] = ContextVar("hokodo_local_iam_principal", default=None)
_active: list[Permissions] = []  # the enforcing stack's (the last started), and those it interrupted
_install_lock = threading.Lock()


def active() -> Permissions | None:
    return _active[-1] if _active else None


@contextmanager
def enforcing(permissions: Permissions) -> Iterator[Permissions]:
    """While in it, functions marked with `acting_as` have their calls evaluated against `permissions`."""
    install()
    _active.append(permissions)
    try:
        yield permissions
    finally:
        _active.remove(permissions)


@contextmanager
def acting_as(function: str, via: str = FUNCTION) -> Iterator[None]:
    """The calls made in this block (and in the thread pools it starts) are `function`'s, made `via` itself or its event
    source mapping. If any was denied, the block raises PermissionDenied (from whatever it raised)."""
    permissions = active()
    if permissions is None:
        yield
        return
    invocation = _Invocation()
    token = _PRINCIPAL.set(_Principal(permissions, function, via, invocation))
    try:
        yield
    except Exception as exc:
        if invocation.denied:
            raise PermissionDenied(invocation.denied) from exc
        raise
    finally:
        _PRINCIPAL.reset(token)
    if invocation.denied:
        raise PermissionDenied(invocation.denied)


def as_function(function: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The handler, its invocations marked as `function`'s (however it is called: by the runner, or directly)."""

    @functools.wraps(handler)
    def invoke(event: Any, context: Any) -> Any:
        with acting_as(function):
            return handler(event, context)

    return invoke


def _on_call(params: dict[str, Any], model: Any, context: dict[str, Any], **kwargs: Any) -> None:
    """botocore's before-parameter-build, for every client of every session: evaluate a marked call, raise if denied."""
    principal = _PRINCIPAL.get()
    if principal is None or context.get("hokodo_local_iam"):
        return
    context["hokodo_local_iam"] = True  # registered on a session twice (BUILTIN_HANDLERS and explicitly): once
    service, operation = model.service_model.service_name, model.name
    region = context.get("client_region") or "us-east-1"
    decisions = principal.permissions.decide(principal.function, service, operation, params, via=principal.via, region=region)
    denied = [d for d in decisions if not d.verdict.allowed]
    if denied:
        principal.invocation.denied.extend(denied)
        for decision in denied:
            log.error("local IAM: %s", decision.describe())
        raise AccessDenied(denied[0], operation, service)


_EVENT = "before-parameter-build"


def install() -> None:
    """Once per process: the botocore handler on every session made from now on (and on boto3's default session and
    the local stack's, if made already), and thread pools that carry the calling function's mark into their workers."""
    import boto3
    import botocore.handlers

    from . import stack

    with _install_lock:
        spec = (_EVENT, _on_call, botocore.handlers.REGISTER_LAST)
        if spec not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(spec)
        for session in (boto3.DEFAULT_SESSION, stack._session()):  # noqa: SLF001 - the local stack's own session
            if session is not None:
                session._session.get_component("event_emitter").register_last(  # noqa: SLF001 - boto3's botocore session
                    _EVENT, _on_call, unique_id="hokodo-local-iam"
                )
        if not getattr(ThreadPoolExecutor.submit, "_carries_principal", False):
            ThreadPoolExecutor.submit = _carrying_submit(ThreadPoolExecutor.submit)  # type: ignore[method-assign]


def _carrying_submit(submit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(submit)
    def carrying(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        principal = _PRINCIPAL.get()
        if principal is None:
            return submit(self, fn, *args, **kwargs)

        def run(*a: Any, **k: Any) -> Any:
            token = _PRINCIPAL.set(principal)
            try:
                return fn(*a, **k)
            finally:
                _PRINCIPAL.reset(token)

        return submit(self, run, *args, **kwargs)

    carrying._carries_principal = True  # type: ignore[attr-defined]
    return carrying

"""The template's values as CloudFormation would compute them for one stack: parameters (defaults and overrides),
pseudo parameters (a stack name and id of our choosing), conditions, and the intrinsic functions that compute names
and conditions (Ref, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::If). A resource's runtime value (a Ref or GetAtt
of a resource) is unknown before the stack exists: evaluating one raises `Unresolved`, unless the caller said what
it gives (`known`). And IAM's condition operators, to ask whether a policy statement applies to a request."""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

REGION = "eu-west-1"
ACCOUNT = "123456789012"
STACK_UUID = "5d6c7e80-1f2a-11ef-9b3c-0a1b2c3d4e5f"  # the last part of a stack id
NO_VALUE = object()


class Unresolved(LookupError):
    """A value only the created stack knows (a resource's Ref or attribute)."""


class StackValues:
    """The values of a (translated) template for one stack."""

    def __init__(
        self,
        body: Mapping[str, Any],
        parameters: Mapping[str, Any] | None = None,
        *,
        stack_name: str = "hokodo-postsale-test",
        known: Mapping[str, Any] | None = None,
    ):
        declared = body.get("Parameters", {})
        self.parameters = {n: str(p["Default"]) for n, p in declared.items() if "Default" in p}
        self.parameters |= {n: str(v) for n, v in (parameters or {}).items()}
        self.conditions = body.get("Conditions", {})
        self.stack_name = stack_name
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/{STACK_UUID}",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.known = dict(known or {})  # "Logical" (Ref) or "Logical.Attribute" (GetAtt) -> value

    # -- conditions ---------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        return bool(self._condition(self.conditions[name]))

    def _condition(self, expression: Any) -> Any:
        if not isinstance(expression, dict):
            return expression
        [(function, argument)] = expression.items()
        functions = {
            "Condition": lambda: self.condition(argument),
            "Fn::Equals": lambda: str(self.value(argument[0])) == str(self.value(argument[1])),
            "Fn::Not": lambda: not self._condition(argument[0]),
            "Fn::And": lambda: all(self._condition(a) for a in argument),
            "Fn::Or": lambda: any(self._condition(a) for a in argument),
        }
        return functions[function]() if function in functions else self.value(expression)

    def exists(self, resource: Mapping[str, Any]) -> bool:
        """Whether the stack has the resource (its Condition, if any, holds)."""
        return "Condition" not in resource or self.condition(resource["Condition"])

    # -- values -------------------------------------------------------------------------------------
    def value(self, value: Any) -> Any:
        """`value` with every intrinsic function evaluated (AWS::NoValue drops the key or item; None at the top)."""
        evaluated = self._value(value, full=True)
        return None if evaluated is NO_VALUE else evaluated

    def without_conditions(self, value: Any) -> Any:
        """`value` with only Fn::If (and AWS::NoValue) evaluated: the references it makes are left as they are."""
        evaluated = self._value(value, full=False)
        return None if evaluated is NO_VALUE else evaluated

    def _value(self, value: Any, *, full: bool) -> Any:
        if isinstance(value, list):
            return [v for v in (self._value(item, full=full) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(function, argument)] = value.items()
            if function == "Fn::If":
                name, when_true, when_false = argument
                return self._value(when_true if self.condition(name) else when_false, full=full)
            if function == "Ref" and argument == "AWS::NoValue":
                return NO_VALUE
            if full and (function == "Ref" or function.startswith("Fn::")):
                return self._function(function, argument)
        return {k: v for k, v in ((k, self._value(v, full=full)) for k, v in value.items()) if v is not NO_VALUE}

    def _function(self, function: str, argument: Any) -> Any:
        if function == "Ref":
            for source in (self.pseudo, self.parameters, self.known):
                if argument in source:
                    return source[argument]
            raise Unresolved(f"Ref {argument}")
        if function == "Fn::GetAtt":
            logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            name = f"{logical_id}.{attribute}"
            if name not in self.known:
                raise Unresolved(f"Fn::GetAtt {name}")
            return self.known[name]
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            variables = {k: self.value(v) for k, v in variables.items()}

            def substitute(match: re.Match) -> str:
                name = match.group(1)
                if name.startswith("!"):
                    return "${" + name[1:] + "}"
                if name in variables:
                    return str(variables[name])
                if "." in name and not name.startswith("AWS::"):
                    return str(self._function("Fn::GetAtt", name))
                return str(self._function("Ref", name))

            return re.sub(r"\$\{([^}]+)\}", substitute, text)
        if function == "Fn::Join":
            separator, items = argument
            return separator.join(str(i) for i in self.value(items))
        if function == "Fn::Split":
            separator, text = argument
            return str(self.value(text)).split(separator)
        if function == "Fn::Select":
            index, items = argument
            return self.value(items)[int(self.value(index))]
        raise NotImplementedError(f"{function} is not evaluated here")


def references(value: Any) -> set[str]:
    """Every logical id `value` refers to: Ref, Fn::GetAtt, and Fn::Sub's ${X} and ${X.Attr} (pseudo parameters and
    Fn::Sub's own variables excepted)."""
    if isinstance(value, list):
        return set().union(*(references(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found: set[str] = set()
    for key, argument in value.items():
        if key == "Ref" and isinstance(argument, str):
            found |= set() if argument.startswith("AWS::") else {argument}
        elif key == "Fn::GetAtt":
            found.add(argument.split(".")[0] if isinstance(argument, str) else argument[0])
        elif key == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            named = {n.split(".")[0] for n in re.findall(r"\$\{([^}!]+)\}", text) if not n.startswith("AWS::")}
            found |= (named - set(variables)) | references(list(variables.values()))
        else:
            found |= references(argument)
    return found


def dependencies(resources: Mapping[str, Mapping[str, Any]]) -> dict[str, set[str]]:
    """For each resource, the resources CloudFormation must create before it (its references and DependsOn)."""
    graph = {}
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        graph[logical_id] = (references(resource.get("Properties", {})) | set(depends_on)) & set(resources)
    return graph


def a_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """A dependency cycle (its logical ids, the first repeated at the end), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        for successor in sorted(graph.get(node, ())):
            found = visit(successor, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    return next((c for c in (visit(n, []) for n in sorted(graph)) if c), None)


# -- IAM conditions -------------------------------------------------------------------------------
_OPERATORS = {
    "StringEquals": lambda actual, wanted: actual == wanted,
    "StringLike": fnmatchcase,
    "ArnEquals": fnmatchcase,  # IAM: ArnEquals and ArnLike both match wildcards, component by component
    "ArnLike": fnmatchcase,
}


def condition_holds(condition: Mapping[str, Mapping[str, Any]] | None, request: Mapping[str, str]) -> bool:
    """Whether a statement's (evaluated) Condition holds for a request's context keys. A key the request lacks fails
    (no ...IfExists here); an operator this does not know raises."""
    for operator, tests in (condition or {}).items():
        if operator not in _OPERATORS:
            raise NotImplementedError(operator)
        for key, wanted in tests.items():
            if key not in request:
                return False
            options = wanted if isinstance(wanted, list) else [wanted]
            if not any(_OPERATORS[operator](request[key], str(option)) for option in options):
                return False
    return True


def allows(statement: Mapping[str, Any], action: str) -> bool:
    """Whether an Allow statement's Action (patterns) covers `action`."""
    patterns = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    return statement["Effect"] == "Allow" and any(fnmatchcase(action.lower(), p.lower()) for p in patterns)

"""CloudFormation's intrinsic functions, evaluated against the stack moto created: for the properties the local stack
applies itself (what moto's CloudFormation skips or ignores), which refer to parameters, pseudo parameters and the
stack's other resources (`!GetAtt DocumentsQueue.Arn`, `!Sub ${AWS::StackName}-hokodo`...).

Only what the template uses is known here; anything else raises `UnknownIntrinsic` naming it, rather than passing an
unresolved value on to moto."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from .template import evaluate_rule_function

ACCOUNT_ID = "123456789012"  # moto's default account

_NO_VALUE = object()


class UnknownIntrinsic(LookupError):
    """A reference or function the local stack cannot evaluate."""


class Resolver:
    def __init__(
        self, *, stack_name: str, region: str, parameters: dict[str, str], conditions: dict[str, Any], stack_id: str | None = None
    ):
        self.parameters = dict(parameters)
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::StackId": stack_id or f"arn:aws:cloudformation:{region}:{ACCOUNT_ID}:stack/{stack_name}/local",
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self._conditions = conditions
        self.refs: dict[str, str] = {}  # logical id -> what `Ref` gives
        self.attributes: dict[tuple[str, str], str] = {}  # (logical id, attribute) -> what `Fn::GetAtt` gives

    def know(self, logical_id: str, ref: str | None = None, **attributes: str) -> None:
        """Record what `!Ref logical_id` and `!GetAtt logical_id.<attribute>` give in this stack."""
        if ref is not None:
            self.refs[logical_id] = ref
        for name, value in attributes.items():
            self.attributes[(logical_id, name)] = value

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function evaluated (`AWS::NoValue` removes the key or list item)."""
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def condition(self, name: str) -> bool:
        return bool(evaluate_rule_function(self._expand_conditions(self._conditions[name]), self.parameters))

    def _expand_conditions(self, expression: Any) -> Any:
        if isinstance(expression, list):
            return [self._expand_conditions(e) for e in expression]
        if isinstance(expression, dict):
            if set(expression) == {"Condition"}:
                return self.condition(expression["Condition"])
            return {k: self._expand_conditions(v) for k, v in expression.items()}
        return expression

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self._resolve(v) for v in value) if r is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(key, argument)] = value.items()
            function = self._functions.get(key)
            if function is not None:
                return function(argument)
            if key.startswith("Fn::") or key == "Condition":
                raise UnknownIntrinsic(f"the local stack does not evaluate {key}")
        return {k: r for k, r in ((k, self._resolve(v)) for k, v in value.items()) if r is not _NO_VALUE}

    @property
    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": lambda a: self._get_att(*(a.split(".", 1) if isinstance(a, str) else a)),
            "Fn::Sub": self._sub,
            "Fn::If": lambda a: self._resolve(a[1] if self.condition(a[0]) else a[2]),
            "Fn::Join": lambda a: a[0].join(str(i) for i in self._resolve(a[1])),
            "Fn::Split": lambda a: str(self._resolve(a[1])).split(a[0]),
            "Fn::Select": lambda a: self._resolve(a[1])[int(self._resolve(a[0]))],
            "Fn::ToJsonString": lambda a: json.dumps(self._resolve(a), separators=(",", ":")),
        }

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        for known in (self.pseudo, self.parameters, self.refs):
            if name in known:
                return known[name]
        raise UnknownIntrinsic(f"Ref {name}: not a parameter, and not a resource the local stack knows")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self.attributes[(logical_id, attribute)]
        except KeyError:
            raise UnknownIntrinsic(f"Fn::GetAtt {logical_id}.{attribute}: not an attribute the local stack knows") from None

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {k: self._resolve(v) for k, v in variables.items()}

        def value(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self._get_att(*name.split(".", 1)))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", value, text)

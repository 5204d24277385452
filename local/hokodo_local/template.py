"""template.yaml as the local stack's single source of truth: read it, and translate it (AWS SAM ->
plain CloudFormation) so that moto's CloudFormation can create the resources it describes."""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from samtranslator.yaml_helper import intrinsics_multi_constructor

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_LAYER = "AWS::Serverless::LayerVersion"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation's short forms (!Ref, !GetAtt, !If...) as their long forms."""


_CfnLoader.add_multi_constructor("!", intrinsics_multi_constructor)


class ParameterError(ValueError):
    """Parameter values CloudFormation would refuse: a parameter's constraints, or a rule's assertion.
    moto's CloudFormation checks neither, so the local stack does before it creates anything."""


@dataclass(frozen=True)
class SamFunction:
    logical_id: str
    code_dir: Path  # the function's CodeUri on disk, e.g. <root>/functions/shipments
    handler: str  # e.g. app.lambda_handler

    @property
    def handler_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


class SamTemplate:
    """The SAM template as written, plus the questions the local stack asks of it."""

    def __init__(self, body: dict[str, Any], root: Path = ROOT):
        self.body = body
        self.root = root

    @classmethod
    def load(cls, path: Path = TEMPLATE_PATH) -> SamTemplate:
        return cls(yaml.load(path.read_text(), Loader=_CfnLoader), root=path.parent)  # noqa: S506 - a SafeLoader subclass

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.body.get("Resources", {})

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.resources.items() if r.get("Type") == resource_type}

    def functions(self) -> dict[str, SamFunction]:
        default_handler = self.body.get("Globals", {}).get("Function", {}).get("Handler", "app.lambda_handler")
        return {
            lid: SamFunction(
                logical_id=lid,
                code_dir=(self.root / r["Properties"]["CodeUri"]).resolve(),
                handler=r["Properties"].get("Handler", default_handler),
            )
            for lid, r in self.of_type(SERVERLESS_FUNCTION).items()
        }

    def function_for(self, code_dir: str) -> SamFunction | None:
        """The function whose CodeUri is `code_dir` (e.g. "functions/documents"), if the template has one."""
        wanted = (self.root / code_dir).resolve()
        return next((f for f in self.functions().values() if f.code_dir == wanted), None)

    def layer_dirs(self) -> list[Path]:
        """Each layer's ContentUri on disk: what Lambda would put on sys.path (/opt/python)."""
        return [(self.root / r["Properties"]["ContentUri"]).resolve() for r in self.of_type(SERVERLESS_LAYER).values()]

    def parameter_values(self, overrides: dict[str, str]) -> dict[str, str]:
        """Every parameter's value as `Ref` gives it (a string): the override, else the default."""
        declared = self.body.get("Parameters", {})
        defaults = {name: str(p["Default"]) for name, p in declared.items() if "Default" in p}
        return defaults | {name: str(value) for name, value in overrides.items()}

    def check_parameters(self, overrides: dict[str, str]) -> None:
        """Refuse what CloudFormation would refuse: unknown parameters, values outside a parameter's
        constraints, and failed Rules assertions (with the rule's AssertDescription)."""
        values = self.parameter_values(overrides)
        problems = [problem for name in overrides for problem in self._constraint_errors(name, values)]
        if not problems:  # as CloudFormation: rules only see values that meet their parameters' constraints
            problems = self.rule_errors(values)
        if problems:
            raise ParameterError("; ".join(problems))

    def rule_errors(self, values: dict[str, str]) -> list[str]:
        """The AssertDescription of every assertion that fails, for rules whose RuleCondition holds."""
        return [
            f"{name}: {assertion.get('AssertDescription', 'assertion failed')}"
            for name, rule in self.body.get("Rules", {}).items()
            if evaluate_rule_function(rule.get("RuleCondition", True), values)
            for assertion in rule.get("Assertions", [])
            if not evaluate_rule_function(assertion["Assert"], values)
        ]

    def _constraint_errors(self, name: str, values: dict[str, str]) -> list[str]:
        declared = self.body.get("Parameters", {}).get(name)
        if declared is None:
            return [f"{name}: no such parameter in the template"]
        value, problems = values[name], []
        if "AllowedValues" in declared and value not in [str(v) for v in declared["AllowedValues"]]:
            problems.append(f"{name}: {value} is not one of {declared['AllowedValues']}")
        if "AllowedPattern" in declared and not re.fullmatch(declared["AllowedPattern"], value):
            problems.append(f"{name}: {value} does not match {declared['AllowedPattern']}")
        if declared.get("Type") == "Number":
            if not re.fullmatch(r"-?\d+(\.\d+)?", value):
                problems.append(f"{name}: {value} is not a number")
            elif "MinValue" in declared and float(value) < float(declared["MinValue"]):
                problems.append(f"{name}: {value} is below its MinValue {declared['MinValue']}")
            elif "MaxValue" in declared and float(value) > float(declared["MaxValue"]):
                problems.append(f"{name}: {value} is above its MaxValue {declared['MaxValue']}")
        return problems

    def translate(self, code_uri: str, parameters: dict[str, str], region: str) -> dict[str, Any]:
        """Plain CloudFormation (what the Serverless transform makes of the template), ready for create_stack.

        The translator insists on s3:// CodeUri/ContentUri, which `sam build` + `sam package` would give.
        moto never runs the code (the local runner imports it from disk), so every CodeUri and
        ContentUri is pointed at `code_uri`, a placeholder zip already uploaded to moto's S3.
        """
        from samtranslator.translator.transform import transform  # slow import: only when translating

        body = copy.deepcopy(self.body)
        for resource in body.get("Resources", {}).values():
            if resource.get("Type") == SERVERLESS_FUNCTION:
                resource["Properties"]["CodeUri"] = code_uri
            elif resource.get("Type") == SERVERLESS_LAYER:
                resource["Properties"]["ContentUri"] = code_uri
        previous = os.environ.get("AWS_DEFAULT_REGION")
        os.environ["AWS_DEFAULT_REGION"] = region  # the translator builds ARNs from it
        try:
            return transform(body, dict(parameters), _NoManagedPolicies())
        finally:
            if previous is None:
                os.environ.pop("AWS_DEFAULT_REGION", None)
            else:
                os.environ["AWS_DEFAULT_REGION"] = previous


_RULE_FUNCTIONS = {  # the rule functions on single values; the list ones (Fn::EachMemberIn...) are not needed here
    "Fn::Equals": lambda args: str(args[0]) == str(args[1]),
    "Fn::Contains": lambda args: str(args[1]) in [str(v) for v in args[0]],
    "Fn::Not": lambda args: not args[0],
    "Fn::And": all,
    "Fn::Or": any,
}


def evaluate_rule_function(expression: Any, values: dict[str, str]) -> Any:
    """A rule's condition or assertion, evaluated with parameter values (strings, as Ref gives them)."""
    if isinstance(expression, list):
        return [evaluate_rule_function(e, values) for e in expression]
    if not isinstance(expression, dict):
        return expression
    [(function, arguments)] = expression.items()
    if function == "Ref":
        return values[arguments]
    if function not in _RULE_FUNCTIONS:
        raise NotImplementedError(f"the local stack does not evaluate {function} in Rules")
    return _RULE_FUNCTIONS[function](evaluate_rule_function(arguments, values))


class _NoManagedPolicies:
    """The translator's managed-policy loader asks IAM for AWS's managed policies; offline there are none
    to ask for, and the template only uses SAM policy templates and inline statements."""

    def load(self) -> dict[str, str]:
        return {}

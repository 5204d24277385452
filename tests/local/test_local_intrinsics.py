"""The intrinsic functions the local stack evaluates itself, for what moto's CloudFormation skips or ignores."""

from __future__ import annotations

import pytest
from hokodo_local.intrinsics import Resolver, UnknownIntrinsic


@pytest.fixture
def resolver() -> Resolver:
    conditions = {"IsFifo": {"Fn::Equals": [{"Ref": "QueueType"}, "fifo"]}, "NotFifo": {"Fn::Not": [{"Condition": "IsFifo"}]}}
    r = Resolver(stack_name="s", region="eu-west-1", parameters={"QueueType": "standard", "Days": "90"}, conditions=conditions)
    r.know("Queue", "https://queue-url", Arn="arn:aws:sqs:eu-west-1:123456789012:q")
    return r


def test_references_parameters_pseudo_parameters_and_known_resources(resolver):
    assert resolver.resolve({"Ref": "Days"}) == "90"  # as CloudFormation: a parameter's value is a string
    assert resolver.resolve({"Ref": "Queue"}) == "https://queue-url"
    assert resolver.resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == resolver.resolve({"Fn::GetAtt": "Queue.Arn"})
    assert resolver.resolve({"Fn::Sub": "${AWS::StackName}-${AWS::Region}-${Queue.Arn}"}).startswith("s-eu-west-1-arn:aws:sqs")
    assert resolver.resolve({"Fn::Sub": ["x-${v}-${!Literal}", {"v": {"Ref": "Days"}}]}) == "x-90-${Literal}"
    assert resolver.resolve({"Fn::Join": ["/", ["a", {"Ref": "Days"}]]}) == "a/90"


def test_conditions_and_no_value(resolver):
    value = {"A": {"Fn::If": ["IsFifo", True, {"Ref": "AWS::NoValue"}]}, "B": {"Fn::If": ["NotFifo", 1, 2]}}
    assert resolver.resolve(value) == {"B": 1}
    assert resolver.resolve([{"Ref": "AWS::NoValue"}, "kept"]) == ["kept"]


@pytest.mark.parametrize(
    "value",
    [{"Ref": "Unknown"}, {"Fn::GetAtt": ["Queue", "QueueName"]}, {"Fn::Cidr": ["10.0.0.0/16", 1, 8]}, {"Fn::Sub": "${Nope.Arn}"}],
)
def test_what_it_cannot_evaluate_is_named_not_passed_on(resolver, value):
    with pytest.raises(UnknownIntrinsic):
        resolver.resolve(value)


def test_select_and_split_take_the_stack_ids_uuid(resolver):
    """What the template derives short, deterministic names from (the documents bucket, the schedule, FIFO queues)."""
    uuid_of_stack = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
    assert resolver.resolve({"Fn::Join": ["-", ["hokodo-documents", uuid_of_stack]]}) == "hokodo-documents-local"

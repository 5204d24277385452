"""Shipment messages (SQS) become Hokodo captures, exactly once."""

from aws_lambda_powertools import Logger, Metrics
from hokodo_postsale.batch import QueueFunction
from hokodo_postsale.models import ShipmentMessage
from hokodo_postsale.shipments import KIND, apply_shipment

logger = Logger()
metrics = Metrics()
shipments = QueueFunction(kind=KIND, message_model=ShipmentMessage, apply=apply_shipment)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return shipments.handle(event, context)

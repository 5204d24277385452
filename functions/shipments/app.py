"""Shipment messages (SQS) become Hokodo captures, exactly once."""

from aws_lambda_powertools import Logger, Metrics
from hokodo_postsale.flows.shipments import queue_function

logger = Logger()
metrics = Metrics()
shipments = queue_function()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return shipments.handle(event, context)

"""Cancellation messages (SQS) become Hokodo voids, exactly once."""

from aws_lambda_powertools import Logger, Metrics
from hokodo_postsale.flows.cancellations import queue_function

logger = Logger()
metrics = Metrics()
cancellations = queue_function()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return cancellations.handle(event, context)

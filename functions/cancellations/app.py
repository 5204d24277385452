"""Cancellation messages (SQS) become Hokodo voids, exactly once."""

from aws_lambda_powertools import Logger, Metrics
from hokodo_postsale.batch import QueueFunction
from hokodo_postsale.cancellations import KIND, apply_cancellation
from hokodo_postsale.models import CancellationMessage

logger = Logger()
metrics = Metrics()
cancellations = QueueFunction(kind=KIND, message_model=CancellationMessage, apply=apply_cancellation)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return cancellations.handle(event, context)

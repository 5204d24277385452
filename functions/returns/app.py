"""Return messages (SQS) become Hokodo refunds, exactly once."""

from aws_lambda_powertools import Logger, Metrics
from hokodo_postsale.flows.returns import queue_function

logger = Logger()
metrics = Metrics()
returns = queue_function()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return returns.handle(event, context)

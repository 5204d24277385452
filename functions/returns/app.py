"""Return messages (SQS) become Hokodo refunds, exactly once."""

from aws_lambda_powertools import Logger, Metrics
from hokodo_postsale.batch import QueueFunction
from hokodo_postsale.models import ReturnMessage
from hokodo_postsale.returns import KIND, apply_return

logger = Logger()
metrics = Metrics()
returns = QueueFunction(kind=KIND, message_model=ReturnMessage, apply=apply_return)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return returns.handle(event, context)

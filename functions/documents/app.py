"""Invoice and other order-document PDFs dropped in S3 (notifications through SQS) become Hokodo order documents, once."""

from aws_lambda_powertools import Logger, Metrics
from hokodo_postsale.flows.documents import queue_function

logger = Logger()
metrics = Metrics()
documents = queue_function()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return documents.handle(event, context)

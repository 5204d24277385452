"""The idempotency table's stream: what the queue functions applied, per deferred payment, and a sync of each."""

from aws_lambda_powertools import Logger, Metrics
from hokodo_postsale.events.tracking import tracking

logger = Logger()
metrics = Metrics()
ledger = tracking()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return ledger.handle(event, context)

"""On a schedule: every open deferred payment is put on the sync queue (lost notifications, drift)."""

from aws_lambda_powertools import Logger, Metrics
from hokodo_postsale.events.reconciliation import reconciliation

logger = Logger()
metrics = Metrics()
reconcile = reconciliation()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return reconcile.run()

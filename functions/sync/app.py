"""The sync queue: each deferred payment read back from Hokodo, and what is new about it published to the bus."""

from aws_lambda_powertools import Logger, Metrics
from hokodo_postsale.events.sync_queue import SyncQueueFunction

logger = Logger()
metrics = Metrics()
syncs = SyncQueueFunction()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return syncs.handle(event, context)

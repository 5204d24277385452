"""The idempotency table's stream: what the queue functions applied, per deferred payment, for the reconciliation."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from hokodo_postsale.events.tracking import tracking

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
ledger = tracking()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return process_partial_response(event=event, record_handler=ledger.track_record, processor=processor, context=context)

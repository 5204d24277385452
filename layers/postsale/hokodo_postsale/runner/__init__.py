"""The SQS queue runner and its exactly-once state: a batch parsed, grouped and applied (`batch`), one Hokodo action
sent once across deliveries (`actions`), each event's key generation, applied and in-doubt actions (`event_state`),
both idempotency keys (`idempotency`), and dead letters with their reason (`dead_letters`)."""

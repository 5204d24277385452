"""Hokodo's notifications (API Gateway HTTP API): the URL secret checked, the deferred payment queued for its sync."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from hokodo_postsale.events.webhooks import NOT_FOUND, Answer, receiver, request_body
from hokodo_postsale.observability import answered

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver()
webhooks = receiver()


def respond(answer: Answer) -> Response:
    answered(answer.status)
    return Response(status_code=answer.status, content_type="application/json", body=answer.body)


@app.post("/webhooks/hokodo/<secret>")
def notification(secret: str) -> Response:
    return respond(webhooks.receive(secret, request_body(app.current_event.raw_event)))


@app.not_found
def not_found(_: Exception) -> Response:
    return respond(NOT_FOUND)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)

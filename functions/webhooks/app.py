"""Hokodo's notifications (API Gateway HTTP API) become trusted events on the merchant's EventBridge bus."""

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
    seconds_left = app.lambda_context.get_remaining_time_in_millis() / 1000
    return respond(webhooks.receive(secret, request_body(app.current_event.raw_event), seconds_left=seconds_left))


@app.not_found
def not_found(_: Exception) -> Response:
    return respond(NOT_FOUND)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)

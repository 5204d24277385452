"""Writes the sample Lambda events in this folder (`python events/generate.py`), in the shapes
`sam local generate-event` makes (sqs receive-message, apigateway http-api-proxy, dynamodb update), with
bodies that follow the bundle's contracts and a correct md5OfBody. tests/test_events.py checks that the
committed files are what this writes, that each body passes its contract, and that each handler takes them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
DP = "defpay-HiTrbSti37vE2nq9aJHgiP"
ORDER = "order-YrG5y79iuxTTEpkzPbaqcX"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
TABLE = "hokodo-postsale-IdempotencyTable"


def sqs(body: str, queue: str, message_id: str) -> dict:
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": "MessageReceiptHandle",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1523232000000",
                    "SenderId": ACCOUNT,
                    "ApproximateFirstReceiveTimestamp": "1523232000001",
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
                "awsRegion": REGION,
            }
        ]
    }


def message(queue: str, message_id: str, **body: object) -> dict:
    return sqs(json.dumps(body, separators=(",", ":")), queue, message_id)


def s3_notification(key: str, version: str) -> dict:
    """What S3 puts on the documents queue for one object (keys arrive URL-encoded)."""
    from urllib.parse import quote_plus

    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2024-05-01T10:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "203.0.113.10"},
                "responseElements": {
                    "x-amz-request-id": "EXAMPLE123456789",
                    "x-amz-id-2": "EXAMPLE123/abcdefghijklmnopqrstuvwxyz",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "documents",
                    "bucket": {
                        "name": "hokodo-postsale-documentsbucket-example",
                        "ownerIdentity": {"principalId": "EXAMPLE"},
                        "arn": "arn:aws:s3:::hokodo-postsale-documentsbucket-example",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": 48213,
                        "eTag": "0123456789abcdef0123456789abcdef",
                        "versionId": version,
                        "sequencer": "0A1B2C3D4E5F678901",
                    },
                },
            }
        ]
    }


def webhook(body: dict) -> dict:
    """API Gateway HTTP API (payload format 2.0), as `sam local generate-event apigateway http-api-proxy` shapes it."""
    path = "/webhooks/hokodo/EXAMPLEurlSecretEXAMPLEurlSecretEXAMPLE000"
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/hokodo/{secret}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "user-agent": "Hokodo",
        },
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.20", "userAgent": "Hokodo"},
            "requestId": "id",
            "routeKey": "POST /webhooks/hokodo/{secret}",
            "stage": "$default",
            "time": "01/May/2024:10:00:00 +0000",
            "timeEpoch": 1714557600000,
        },
        "pathParameters": {"secret": "EXAMPLEurlSecretEXAMPLEurlSecretEXAMPLE000"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def stream_completed_record() -> dict:
    """The idempotency table's stream, as ledger tracking receives it: a shipment's Powertools record completing."""
    result = {
        "kind": "shipment",
        "event_id": "ship-1001",
        "deferred_payment_id": DP,
        "actions": [
            {
                "action": "capture",
                "amount": 100000,
                "changes": {
                    "authorisation": -100000,
                    "protected_captures": 100000,
                    "unprotected_captures": 0,
                    "refunds": 0,
                    "voided_authorisation": 0,
                    "expired_authorisation": 0,
                    "clawback": 0,
                },
            }
        ],
    }
    key = {"id": {"S": "hokodo-postsale.shipment#0d9c1e3b2f0b6c8a7e5d4c3b2a190807"}}
    old = {**key, "status": {"S": "INPROGRESS"}, "expiration": {"N": "1715767200"}}
    new = {**old, "status": {"S": "COMPLETED"}, "data": {"S": json.dumps(result)}}
    return {
        "Records": [
            {
                "eventID": "c81e728d9d4c2f636f067f89cc14862c",
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": {
                    "Keys": key,
                    "NewImage": new,
                    "OldImage": old,
                    "ApproximateCreationDateTime": 1714557600,
                    "SequenceNumber": "4421584500000000017450439092",
                    "SizeBytes": 412,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}/stream/2024-05-01T00:00:00.000",
            }
        ]
    }


NOTIFICATION = {
    "created": "2024-05-29T10:00:00.000Z",
    "data": {"order": {"id": ORDER, "status": "cancelled", "deferred_payment": {"id": DP, "status": "cancelled"}}},
}

SAMPLES = {
    "shipment.json": message(
        "ShipmentsQueue",
        "19dd0b57-b21e-4ac1-bd88-01bbb068cb78",
        event_id="ship-1001",
        deferred_payment_id=DP,
        amount=100000,
        metadata={"shipment": "SH-1001"},
    ),
    "shipment-capture-remaining.json": message(
        "ShipmentsQueue",
        "2e1424d4-f796-459a-8184-9c92662be6da",
        event_id="ship-1002",
        deferred_payment_id=DP,
        capture_remaining=True,
        final=True,
    ),
    "return.json": message(
        "ReturnsQueue",
        "3a7e8f1c-5b2d-4c9e-8a6f-1d2e3f4a5b6c",
        event_id="return-2001",
        deferred_payment_id=DP,
        amount=30000,
        metadata={"rma": "RMA-2001"},
        after=[{"kind": "shipment", "event_id": "ship-1001"}],
    ),
    "cancellation.json": message(
        "CancellationsQueue",
        "4b8f9a2d-6c3e-4d0f-9b7a-2e3f4a5b6c7d",
        event_id="cancel-3001",
        deferred_payment_id=DP,
        amount=5000,
        metadata={"reason": "out of stock"},
    ),
    "cancellation-remaining.json": message(
        "CancellationsQueue",
        "5c9a0b3e-7d4f-4e1a-8c8b-3f4a5b6c7d8e",
        event_id="cancel-3002",
        deferred_payment_id=DP,
        remaining=True,
        after=[{"kind": "shipment", "event_id": "ship-1001"}],
    ),
    "document-drop.json": sqs(
        json.dumps(s3_notification(f"invoices/{ORDER}/INV 1001.pdf", "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd")),
        "DocumentsQueue",
        "6d0b1c4f-8e5a-4f2b-9d9c-4a5b6c7d8e9f",
    ),
    "sync-request.json": message(
        "SyncQueue", "7e1c2d5a-9f6b-4a3c-8e0d-5b6c7d8e9fa0", deferred_payment_id=DP, reason="notification"
    ),
    "webhook.json": webhook(NOTIFICATION),
    "reconciliation.json": {"source": "hokodo-postsale.reconciliation"},
    "tracking.json": stream_completed_record(),
}


def render(event: dict) -> str:
    return json.dumps(event, indent=2) + "\n"


if __name__ == "__main__":
    for name, event in SAMPLES.items():
        (HERE / name).write_text(render(event))
        print(f"wrote events/{name}")

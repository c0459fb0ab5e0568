"""Lambda events as AWS builds them, from real messages received off the emulator's queues."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imagelake.adapters.aws.clients import region
from tests.aws_env import ACCOUNT

CONTEXT = LambdaContext()


def sqs_records(queue: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of an SQS event for Lambda (or a Pipe's batch): camelCase, attributes kept."""
    return [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value["DataType"],
                }
                for name, value in m.get("MessageAttributes", {}).items()
            },
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:{region()}:{ACCOUNT}:{queue}",
            "awsRegion": region(),
        }
        for m in messages
    ]


def sqs_event(queue: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": sqs_records(queue, messages)}


def http_event(
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    query: str = "",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) request, as the $default route gets it."""
    all_headers = {"host": "api.example.test", "x-forwarded-proto": "https"}
    all_headers |= {k.lower(): v for k, v in (headers or {}).items()}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "api",
            "domainName": "api.example.test",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "tests",
            },
            "requestId": "request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "11/Jul/2021:09:17:13 +0000",
            "timeEpoch": 1625995033000,
        },
        "isBase64Encoded": body is not None,
    }
    if body is not None:
        event["body"] = base64.b64encode(body).decode()
    return event


def scheduled_event(rule: str = "imagelake-CompactFunctionSchedule") -> dict[str, Any]:
    """What an EventBridge schedule rule hands its Lambda target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region(),
        "resources": [f"arn:aws:events:{region()}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


def json_body(response: dict[str, Any]) -> Any:
    body = response.get("body", "")
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body)

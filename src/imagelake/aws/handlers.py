"""The Lambda handlers: parse the event, call a service, shape the reply.

- `api`: the HTTP API (API Gateway HTTP API, payload 2.0) through Mangum.
- `thumbnails`: S3 object-created notifications for direct uploads (via SQS) and our own
  thumbnail jobs, with partial batch failure.
- `observer`: a batch of observer events, archived and counted, with partial batch failure.
- `archive`, `store`: the observer's two steps as states of a Step Functions workflow fed
  by an EventBridge Pipe; each passes the records it finished on, with `batchItemFailures`.
- `compact`: on an EventBridge schedule, the event lake's closed hours compacted to Parquet
  (what `imagelake serve` runs every few minutes); a failure raises, for retries and alarms.

On SQS, a message the services leave unfinished was already dead-lettered (with its
reason) or scheduled to come back with backoff; reporting it as a batch item failure
keeps Lambda from deleting one that is due again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagelake.aws import runtime
from imagelake.aws.records import s3_objects, sqs_records, to_message
from imagelake.ports import Message
from imagelake.runtime.observability import flush_sentry

Event = dict[str, Any]
Step = Callable[[Sequence[Message]], tuple[list[Message], list[Message]]]
# An all-failed batch is an answer like any other, not an invocation error to retry whole.
processor = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)


class Unfinished(Exception):
    """A record Lambda must not delete: it was dead-lettered or will be delivered again."""


def api(event: Event, context: Any) -> dict[str, Any]:
    return runtime.asgi()(event, context)


def thumbnails(event: Event, context: LambdaContext) -> PartialItemFailureResponse:
    wired = runtime.wired()

    def handle(record: SQSRecord) -> None:
        objects = s3_objects(record.body)
        if objects is None:  # one of our thumbnail jobs
            if not wired.thumbnail_jobs.handle(to_message(record.raw_event)):
                raise Unfinished(f"thumbnail job {record.message_id} not done")
            return
        for found in objects:  # none at all for S3's test event
            if found.event_name.startswith("ObjectCreated"):
                wired.uploads.finish(found.key)

    return process_partial_response(event, handle, processor, context)


def observer(event: Event, context: LambdaContext) -> PartialItemFailureResponse:
    messages = [to_message(record) for record in event.get("Records", [])]
    unfinished = {m.message_id for m in runtime.wired().monitor.handle(messages)}

    def handle(record: SQSRecord) -> None:
        if record.message_id in unfinished:
            raise Unfinished(f"event {record.message_id} not archived and counted")

    return process_partial_response(event, handle, processor, context)


def archive(event: Any, context: LambdaContext) -> dict[str, Any]:
    """State one: the records archived go on to `store`; the rest are batch item failures."""
    return _step(event, runtime.wired().monitor.archive_step)


def store(event: Any, context: LambdaContext) -> dict[str, Any]:
    """State two: count the archived records."""
    return _step(event, runtime.wired().monitor.store_step)


def compact(event: Event, context: LambdaContext) -> dict[str, Any]:
    """A scheduled run: compact every closed hour not compacted yet; say what was done."""

    def run() -> dict[str, Any]:
        report = runtime.lake().compactor.compact()
        return {
            "partitions_compacted": len(report.compacted),
            "events": report.events,
            "duplicates_dropped": report.duplicates_dropped,
            "partitions_up_to_date": report.up_to_date,
            "open_hour_batches": report.open_objects,
            "batches_quarantined": len(report.quarantined),
            "seconds": round(report.seconds, 3),
        }

    return _scheduled("lake compaction", run)


def evict(event: Event, context: LambdaContext) -> dict[str, Any]:
    """A scheduled run: keep the rendered variants under IMAGELAKE_VARIANT_CACHE_BYTES."""

    def run() -> dict[str, Any]:
        evicted = runtime.wired().variant_cache.evict()
        return {
            "variants_evicted": evicted.variants,
            "bytes_freed": evicted.bytes_freed,
            "bytes_kept": evicted.bytes_kept,
        }

    return _scheduled("variant eviction", run)


def _scheduled(what: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One scheduled job: its summary logged, or its failure logged and sent to Sentry."""
    logger = runtime.logger()
    try:
        summary = run()
    except Exception as exc:
        logger.exception("%s failed: %s", what, exc)
        flush_sentry()  # the container may be frozen before a queued report goes out
        raise
    logger.info(f"{what} done", extra=summary)
    return summary


def _step(event: Any, step: Step) -> dict[str, Any]:
    records = sqs_records(event)
    failures = list(event.get("batchItemFailures", [])) if isinstance(event, dict) else []
    done, unfinished = step([to_message(record) for record in records])
    kept = {m.message_id for m in done}
    failures += [{"itemIdentifier": m.message_id} for m in unfinished]
    return {
        "records": [record for record in records if record["messageId"] in kept],
        "batchItemFailures": failures,
    }

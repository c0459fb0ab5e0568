"""deploy/template.yaml: lint-clean, translatable offline, and a stack the adapters work on.

moto's CloudFormation does not expand the SAM transform, so the template is translated
here with aws-sam-translator (as `sam deploy` would have CloudFormation do), after the
substitutions `sam build`/`sam package` make: an image URI per function, the state
machine's definition inline. The stack is then created in moto over HTTP.

What moto's CloudFormation silently skips (the stack still reports CREATE_COMPLETE), so
these are asserted on the translated template instead of on moto:
- AWS::SQS::QueuePolicy, AWS::Pipes::Pipe, AWS::Glue::Database, AWS::Glue::Table,
  AWS::CloudWatch::Alarm, AWS::ApiGatewayV2::Api and ::Stage (so the ApiUrl output keeps
  its raw `${HttpApi}`);
- on AWS::DynamoDB::Table: TimeToLiveSpecification and PointInTimeRecoverySpecification;
- on AWS::S3::Bucket everything but BucketEncryption and Tags: PublicAccessBlock,
  LifecycleConfiguration, CorsConfiguration, NotificationConfiguration, OwnershipControls.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import (
    to_py27_compatible_template,
    undo_mark_unicode_str_in_template,
)

from imagelake.adapters.aws.clients import client
from imagelake.adapters.aws.dynamodb import DynamoDBCatalog
from imagelake.adapters.aws.dynamodb_codec import TTL_ATTRIBUTE, Tables, table_specs
from imagelake.adapters.aws.sqs import SqsQueue
from imagelake.adapters.embedded.duckdb_engine import DuckDBEngine
from imagelake.adapters.memory import MemoryBlobStore
from imagelake.config import Settings
from imagelake.domain.images import Image, utcnow
from imagelake.domain.signing import Signer
from imagelake.lake.archive import EventArchiver, receive
from imagelake.lake.athena import PARQUET_TABLE, RAW_TABLE, athena_ddl
from imagelake.lake.compaction import LakeCompactor
from imagelake.ports import Message
from tests.aws_env import queue_url, unique_name
from tests.lake_rig import archive, requests

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TEMPLATE = DEPLOY / "template.yaml"
IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/imagelake:test"
MODES = ["Single", "StepFunctions"]
NOON = "2021-07-11T12:00:00+00:00"


def no_managed_policies() -> dict[str, str]:
    """The translator's managed-policy map, offline: the template names no managed policy."""
    return {}


def sam_translate(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """What CloudFormation's SAM transform makes of template, done locally and offline."""
    to_py27_compatible_template(template, parameters)
    # The session only names a region for the ARNs; the translator makes no call with it.
    session = boto3.session.Session(region_name="us-east-1")
    translator = Translator(None, Parser(), boto_session=session)
    result = translator.translate(
        template, parameter_values=parameters, get_managed_policy_map=no_managed_policies
    )
    translated: dict[str, Any] = undo_mark_unicode_str_in_template(result)
    return translated


def built_template() -> dict[str, Any]:
    """The template after `sam build` and `sam package`: images and definitions in place."""
    # cfn-lint's reader turns the short tags (!Ref, !Sub ...) into their long form.
    template: dict[str, Any] = json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE))))
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["ImageUri"] = IMAGE_URI
        if resource["Type"] == "AWS::Serverless::StateMachine":
            uri = properties.pop("DefinitionUri")
            properties["Definition"] = json.loads((DEPLOY / uri).read_text())
    return template


@cache
def _translated(parameters: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(sam_translate(built_template(), dict(parameters)))


def translated(**parameters: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(_translated(tuple(sorted(parameters.items()))))
    return result


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_cfn_lint_passes() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_tables_are_the_catalogs_own() -> None:
    template = translated(ResourcePrefix="demo")
    tables = resources_of(template, "AWS::DynamoDB::Table")
    by_name = {r["Properties"]["TableName"]["Fn::Sub"]: r["Properties"] for r in tables.values()}
    expected = {
        spec["TableName"].replace("demo", "${ResourcePrefix}", 1): spec
        for spec in table_specs(Tables.for_prefix("demo"))
    }
    assert set(by_name) == set(expected)
    for name, spec in expected.items():
        properties = by_name[name]
        for field in ("KeySchema", "AttributeDefinitions"):
            assert properties[field] == spec[field], (name, field)
        assert properties.get("GlobalSecondaryIndexes", []) == spec.get(
            "GlobalSecondaryIndexes", []
        )
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
    for expiring in Tables.for_prefix("demo").expiring:
        properties = by_name[expiring.replace("demo", "${ResourcePrefix}", 1)]
        assert properties["TimeToLiveSpecification"] == {
            "AttributeName": TTL_ATTRIBUTE,
            "Enabled": True,
        }


@dataclass(frozen=True)
class PrintedTable:
    """One CREATE EXTERNAL TABLE statement of `imagelake lake athena-ddl`, taken apart."""

    columns: list[tuple[str, str]]
    partitions: list[tuple[str, str]]
    storage: str
    location: str
    properties: dict[str, str]


_CREATE_TABLE = re.compile(
    r"CREATE EXTERNAL TABLE IF NOT EXISTS `imagelake`\.`(?P<name>\w+)` \(\n(?P<columns>.*?)\n\)\n"
    r"PARTITIONED BY \((?P<partitions>[^)]*)\)\n(?P<storage>[^\n]+)\n"
    r"LOCATION '(?P<location>[^']+)'\nTBLPROPERTIES \(\n(?P<properties>.*?)\n\);",
    re.DOTALL,
)
_COLUMN = re.compile(r"`(\w+)` (\w+)")


def printed_tables(location: str) -> dict[str, PrintedTable]:
    """The tables athena-ddl prints for a lake at location, by name."""
    ddl = athena_ddl(location, "imagelake")
    tables = {
        m["name"]: PrintedTable(
            columns=_COLUMN.findall(m["columns"]),
            partitions=_COLUMN.findall(m["partitions"]),
            storage=m["storage"],
            location=m["location"],
            properties=dict(re.findall(r"'([^']+)' = '([^']*)'", m["properties"])),
        )
        for m in _CREATE_TABLE.finditer(ddl)
    }
    assert len(tables) == ddl.count("CREATE EXTERNAL TABLE"), ddl
    return tables


# What Athena records in Glue for each storage clause the DDL uses:
# (SerDe, InputFormat, OutputFormat, classification).
GLUE_STORAGE = {
    "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'": (
        "org.openx.data.jsonserde.JsonSerDe",
        "org.apache.hadoop.mapred.TextInputFormat",
        "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "json",
    ),
    "STORED AS PARQUET": (
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "parquet",
    ),
}
# In the template the lake root is ${LakeBucket}, and Fn::Sub escapes Athena's ${...} as ${!...}.
TEMPLATE_LAKE = "s3://${LakeBucket}"


def glue_tables() -> dict[str, dict[str, Any]]:
    """The template's Glue tables' TableInput, by table name."""
    tables = resources_of(translated(), "AWS::Glue::Table").values()
    return {t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"] for t in tables}


def test_the_template_declares_every_table_athena_ddl_prints() -> None:
    assert set(glue_tables()) == set(printed_tables(TEMPLATE_LAKE)) == {"events_raw", "events"}


@pytest.mark.parametrize("name", [RAW_TABLE.name, PARQUET_TABLE.name])
def test_lake_table_is_the_one_athena_ddl_prints(name: str) -> None:
    printed = printed_tables(TEMPLATE_LAKE)[name]
    table_input = glue_tables()[name]
    descriptor = table_input["StorageDescriptor"]

    assert table_input["TableType"] == "EXTERNAL_TABLE"
    assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == printed.columns
    assert [(c["Name"], c["Type"]) for c in table_input["PartitionKeys"]] == printed.partitions
    serde, input_format, output_format, classification = GLUE_STORAGE[printed.storage]
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == serde
    assert (descriptor["InputFormat"], descriptor["OutputFormat"]) == (input_format, output_format)
    assert descriptor["Location"] == {"Fn::Sub": printed.location}
    parameters = dict(table_input["Parameters"])
    location_template = parameters.pop("storage.location.template")["Fn::Sub"]
    expected = dict(printed.properties)
    assert location_template.replace("${!", "${") == expected.pop("storage.location.template")
    assert parameters == {"classification": classification, **expected}


def test_lake_table_reads_what_the_monitor_archives() -> None:
    body = json.dumps(
        {"event_name": "IMAGE_REQUESTED", "user_id": "42", "image_id": "x", "timestamp": NOON}
    ).encode()
    lake = MemoryBlobStore("http://imagelake.test", Signer(b"unused", ()))
    (key,) = EventArchiver(lake).archive([receive(Message("m", body, "r", 1, 0.0))])
    fields = list(json.loads(lake.get(key)))
    # event_name is the partition Athena reads from the key; a column may not repeat it.
    assert [name for name, _ in RAW_TABLE.columns] == [f for f in fields if f != "event_name"]
    projected = RAW_TABLE.projection("s3://lake")["storage.location.template"]
    projected = projected.replace("${event_name}", "IMAGE_REQUESTED").replace("${dt}", "2021-07-11")
    assert f"s3://lake/{key}".startswith(projected.replace("${hour}", "12"))


# The Athena type of each Parquet type compaction writes (DuckDB VARCHAR, TIMESTAMP, BIGINT).
ATHENA_TYPES = {"string": "string", "timestamp[us]": "timestamp", "int64": "bigint"}


def test_parquet_table_reads_what_compaction_writes() -> None:
    lake = MemoryBlobStore("http://imagelake.test", Signer(b"unused", ()))
    reqs = requests(3)  # 2021-07-10, closed hours
    archive(lake, [r.body for r in reqs])
    LakeCompactor(lake, DuckDBEngine()).compact()
    (key,) = [k for k in lake.list(f"{PARQUET_TABLE.prefix}/") if k.endswith(".parquet")]

    schema = pq.read_schema(io.BytesIO(lake.get(key)))
    held = [(field.name, ATHENA_TYPES[str(field.type)]) for field in schema]
    assert held == printed_tables("s3://lake")["events"].columns
    projected = PARQUET_TABLE.projection("s3://lake")["storage.location.template"]
    day = reqs[0].at.date().isoformat()
    projected = projected.replace("${event_name}", "IMAGE_REQUESTED").replace("${dt}", day)
    assert f"s3://lake/{key}".startswith(projected)
    assert "/" not in f"s3://lake/{key}".removeprefix(projected)


def test_the_http_api_throttles_every_route_by_parameters() -> None:
    template = translated(ApiThrottlingRateLimit="40", ApiThrottlingBurstLimit="80")
    (stage,) = resources_of(template, "AWS::ApiGatewayV2::Stage").values()

    assert stage["Properties"]["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
    }
    parameters = template["Parameters"]
    for name in ("ApiThrottlingRateLimit", "ApiThrottlingBurstLimit"):
        assert parameters[name]["Type"] == "Number"
        assert int(parameters[name]["Default"]) >= int(parameters[name]["MinValue"]) >= 1


def lake_objects(path: str) -> str:
    return json.dumps({"Fn::Sub": f"${{LakeBucket.Arn}}/{path}"})


def granted_by(role: dict[str, Any]) -> dict[str, set[str]]:
    """Every action a function's role allows, with the resources (as JSON) it may act on."""
    granted: dict[str, set[str]] = {}
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow" and "Condition" not in statement
            actions, targets = statement["Action"], statement["Resource"]
            for action in actions if isinstance(actions, list) else [actions]:
                listed = targets if isinstance(targets, list) else [targets]
                granted.setdefault(action, set()).update(json.dumps(t) for t in listed)
    return granted


def test_the_api_function_may_query_the_lake_for_the_stats_routes() -> None:
    role = translated()["Resources"]["ApiFunctionRole"]["Properties"]
    granted = granted_by(role)
    raw, parts = lake_objects("events/raw/*"), lake_objects("events/parquet/*")

    assert {raw, parts} <= granted["s3:GetObject"]
    assert json.dumps({"Fn::GetAtt": ["LakeBucket", "Arn"]}) in granted["s3:ListBucket"]
    assert lake_objects("events/quarantine/*") in granted["s3:PutObject"]
    assert parts not in granted["s3:PutObject"]  # compaction's alone


def test_the_api_function_may_render_variants_from_originals_into_the_thumbnails_bucket() -> None:
    role = translated()["Resources"]["ApiFunctionRole"]["Properties"]
    granted = granted_by(role)
    originals = json.dumps({"Fn::Sub": "${OriginalsBucket.Arn}/*"})
    variants = json.dumps({"Fn::Sub": "${ThumbnailsBucket.Arn}/thumbnails/*"})

    assert originals in granted["s3:GetObject"]  # the original a variant is rendered from
    assert variants in granted["s3:PutObject"]  # the render, kept for the next request
    thumbnails = json.dumps({"Fn::Sub": "${ThumbnailsBucket.Arn}/*"})
    assert thumbnails in granted["s3:GetObject"]  # what the presigned redirect hands out


def test_the_evict_function_runs_on_a_schedule_and_touches_only_variants() -> None:
    template = translated()
    resources = template["Resources"]
    function = resources["EvictFunction"]["Properties"]
    assert function["ImageConfig"]["Command"] == ["imagelake.aws.handlers.evict"]
    target = {"Fn::GetAtt": ["EvictFunction", "Arn"]}
    (rule,) = [
        r["Properties"]
        for r in resources_of(template, "AWS::Events::Rule").values()
        if any(t["Arn"] == target for t in r["Properties"]["Targets"])
    ]
    assert rule["ScheduleExpression"] == {"Ref": "CompactionSchedule"}
    variants = json.dumps({"Fn::Sub": "${ThumbnailsBucket.Arn}/thumbnails/*"})
    assert granted_by(resources["EvictFunctionRole"]["Properties"]) == {
        "s3:GetObject": {variants},
        "s3:DeleteObject": {variants},
        "s3:ListBucket": {json.dumps({"Fn::GetAtt": ["ThumbnailsBucket", "Arn"]})},
        "dynamodb:GetItem": {json.dumps({"Fn::GetAtt": ["StatsTable", "Arn"]})},
    }


def test_the_compact_function_runs_on_a_schedule_and_touches_only_the_lake() -> None:
    template = translated()
    resources = template["Resources"]
    function = resources["CompactFunction"]["Properties"]
    assert function["ImageConfig"]["Command"] == ["imagelake.aws.handlers.compact"]
    assert function["Code"] == {"ImageUri": IMAGE_URI}
    assert function["Timeout"] >= 300 and function["MemorySize"] >= 2048
    assert function["Environment"]["Variables"]["IMAGELAKE_ARCHIVE"] == {
        "Fn::Sub": "s3://${LakeBucket}"
    }
    target = {"Fn::GetAtt": ["CompactFunction", "Arn"]}
    (rule,) = [
        r["Properties"]
        for r in resources_of(template, "AWS::Events::Rule").values()
        if any(t["Arn"] == target for t in r["Properties"]["Targets"])
    ]
    assert rule["ScheduleExpression"] == {"Ref": "CompactionSchedule"}
    assert template["Parameters"]["CompactionSchedule"]["Default"] == "rate(1 hour)"

    # Read the raw batches, rewrite parts and manifests, move unreadable batches into the
    # quarantine: nothing else, nowhere else.
    role = resources["CompactFunctionRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"  # its own logs
    ]
    granted = granted_by(role)
    parts = {lake_objects("events/parquet/*")}
    raw, quarantine = lake_objects("events/raw/*"), lake_objects("events/quarantine/*")
    assert granted == {
        "s3:GetObject": {raw, *parts},
        "s3:PutObject": {*parts, quarantine},
        "s3:DeleteObject": {*parts, raw},
        "s3:AbortMultipartUpload": parts,
        "s3:ListBucket": {json.dumps({"Fn::GetAtt": ["LakeBucket", "Arn"]})},
    }

    (alarm,) = [
        a["Properties"]
        for a in resources_of(template, "AWS::CloudWatch::Alarm").values()
        if {"Name": "FunctionName", "Value": {"Ref": "CompactFunction"}}
        in a["Properties"]["Dimensions"]
    ]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]


@pytest.mark.parametrize("mode", MODES)
def test_the_stack_creates_what_the_adapters_use(aws_endpoint: str, mode: str) -> None:
    prefix = unique_name("t", 10)
    template = translated(ObserverMode=mode, ResourcePrefix=prefix)
    stack = create_stack(template, {"ObserverMode": mode, "ResourcePrefix": prefix})
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    created = {r["LogicalResourceId"] for r in stack_resources(stack["StackName"])}

    s3 = client("s3")
    for logical in ("OriginalsBucket", "ThumbnailsBucket", "LakeBucket"):
        bucket = outputs[f"{logical}Name"]
        encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
        # What moto skips on buckets, checked where CloudFormation would read it.
        properties = template["Resources"][logical]["Properties"]
        assert all(properties["PublicAccessBlockConfiguration"].values())
        rules = properties["LifecycleConfiguration"]["Rules"]
        assert any("AbortIncompleteMultipartUpload" in rule for rule in rules)

    sqs = client("sqs")
    for queue in ("observer", "thumbnails", "uploads"):
        url = queue_url(f"{prefix}-{queue}")
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f":{prefix}-{queue}-dlq")
        assert int(redrive["maxReceiveCount"]) == 5

    dynamodb = client("dynamodb")
    for spec in table_specs(Tables.for_prefix(prefix)):
        table = dynamodb.describe_table(TableName=spec["TableName"])["Table"]
        assert table["KeySchema"] == spec["KeySchema"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert outputs["AlertTopicArn"].endswith(f":{prefix}-alerts")
    client("sns").get_topic_attributes(TopicArn=outputs["AlertTopicArn"])

    functions = {"ApiFunction", "ThumbnailsFunction", "CompactFunction", "EvictFunction"}
    observer = {"ObserverFunction"}
    step_functions = {"ArchiveFunction", "StoreFunction", "ObserverStateMachine"}
    assert functions <= created
    if mode == "Single":
        assert observer <= created and not step_functions & created
    else:
        assert step_functions <= created and not observer & created
        assert "ObserverStateMachineArn" in outputs

    # The functions' settings name what the stack made, and only settings that exist.
    lambdas = client("lambda")
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"] for r in stack_resources(stack["StackName"])
    }
    env = lambdas.get_function_configuration(FunctionName=physical["ApiFunction"])["Environment"]
    variables = env["Variables"]
    assert {
        name.removeprefix("IMAGELAKE_").lower()
        for name in variables
        if name.startswith("IMAGELAKE_")
    } <= set(Settings.model_fields)
    assert variables["IMAGELAKE_BLOBS"] == f"s3://{outputs['OriginalsBucketName']}"
    assert variables["IMAGELAKE_THUMBNAILS"] == f"s3://{outputs['ThumbnailsBucketName']}"
    assert variables["IMAGELAKE_ARCHIVE"] == f"s3://{outputs['LakeBucketName']}"
    assert variables["IMAGELAKE_CATALOG"] == f"dynamodb://{prefix}"
    assert variables["IMAGELAKE_QUEUE"] == f"sqs://{prefix}-observer"
    assert variables["IMAGELAKE_JOBS_QUEUE"] == f"sqs://{prefix}-thumbnails"
    assert variables["IMAGELAKE_NOTIFY"] == f"sns://{outputs['AlertTopicArn']}"

    # The schedule invokes the compact function (moto keeps the rule but never fires it).
    compact = lambdas.get_function_configuration(FunctionName=physical["CompactFunction"])
    (rule,) = client("events").list_rule_names_by_target(TargetArn=compact["FunctionArn"])[
        "RuleNames"
    ]
    assert client("events").describe_rule(Name=rule)["ScheduleExpression"] == "rate(1 hour)"

    # Each queue feeds its function, reporting partial batch failures.
    mappings = lambdas.list_event_source_mappings()["EventSourceMappings"]
    ours = [m for m in mappings if f":{prefix}-" in m["EventSourceArn"]]
    fed = {(m["EventSourceArn"].rsplit(":", 1)[1], m["FunctionArn"].split(":")[-1]) for m in ours}
    feeds = {("thumbnails", "ThumbnailsFunction"), ("uploads", "ThumbnailsFunction")}
    if mode == "Single":
        feeds.add(("observer", "ObserverFunction"))
    assert {(queue.removeprefix(f"{prefix}-"), fn.split("-")[-2]) for queue, fn in fed} == feeds
    for mapping in resources_of(template, "AWS::Lambda::EventSourceMapping").values():
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    # moto runs a mapped function on every send, and fails without its code and Docker
    # (deleting the mapping does not unhook it from the queue in moto; disabling does).
    for mapping in ours:
        lambdas.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)

    # The adapters, pointed at what the stack made, just work.
    catalog = DynamoDBCatalog(client("dynamodb"), prefix)
    image = Image(
        "5d5b3c1e-8a0e-4c55-9a43-0b5a3a0b9f11", "ab" * 32, "image/png", 4, 3, 99, utcnow()
    )
    catalog.add_image(image)
    assert catalog.find_by_sha256(image.owner, image.sha256) == image
    events = SqsQueue(client("sqs"), f"{prefix}-observer")
    events.send([b'{"not": "an event"}'])
    (message,) = events.receive(1, 30)
    events.dead_letter(message, "checked by the template test")
    (letter,) = events.dead_letters()
    assert (letter.body, letter.reason) == (b'{"not": "an event"}', "checked by the template test")


def create_stack(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    cloudformation = client("cloudformation")
    name = f"imagelake-{parameters['ResourcePrefix']}"
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.monotonic() + 60
    while True:
        stack: dict[str, Any] = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return stack


def stack_resources(name: str) -> list[dict[str, Any]]:
    response = client("cloudformation").list_stack_resources(StackName=name)
    resources: list[dict[str, Any]] = response["StackResourceSummaries"]
    return resources

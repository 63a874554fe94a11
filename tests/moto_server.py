#!/usr/bin/env python3
"""moto's server (S3, DynamoDB, WAFv2, Kinesis) for the test suite, extended where moto 5.2.5 differs
from AWS in ways the tests would otherwise depend on, and with faults the tests ask for.

Extensions (each test that relies on one says so):
- WAFv2 UpdateRuleGroup with an empty rule list empties the group (moto keeps the old rules;
  AWS applies the empty list).

Faults, triggered by resource names so that each test's faults stay its own:
- DynamoDB table named `...-throttleN-...`: its first N PutItem calls fail with
  ProvisionedThroughputExceededException.
- DynamoDB table named `...-busyN-...`: its first N calls of each control and read operation
  (CreateTable, DescribeTable, UpdateTimeToLive, Query, UpdateItem) fail with
  ThrottlingException.
- WAFv2 rule group named `...-busyN-...`: its first N CreateRuleGroup and GetRuleGroup calls,
  and the first N ListRuleGroups calls while it exists, fail with WAFInternalErrorException
  (HTTP 500).
- WAFv2 rule group named `...-lockN-...`: its first N UpdateRuleGroup calls fail with
  WAFOptimisticLockException (and the lock token changes, as when another writer got there
  first).
- S3 object whose key contains `-s3failN-`: its first N GetObject calls answer 503 SlowDown.
- S3 object whose key contains `-s3slowN-`: its first N GetObject calls wait 4 seconds before
  answering (longer than the client's timeout in the tests that use it).
- S3 object whose key contains `-s3cutN-`: its first N GetObject calls send the headers of the
  whole object and then only half of its bytes (the connection ends mid-object).
- Kinesis stream named `...-kthrottleN-...`: its first N GetRecords calls fail with
  ProvisionedThroughputExceededException; `...-kexpireN-...`: with ExpiredIteratorException.

Kinesis resharding as AWS does it (moto 5.2.5 moves a split shard's records back into it under
new sequence numbers, keeps writing into it after the split, and never ends it): SplitShard
closes the parent with its records and sequence numbers kept, new records go to the open
shards only, and GetRecords at the end of a closed shard returns no NextShardIterator.

usage: moto_server.py -H 127.0.0.1 -p PORT
"""
import re
import sys
import threading
import time

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend
from moto.wafv2 import models as waf_models
from moto.wafv2.exceptions import WAFOptimisticLockException

_lock = threading.Lock()
_seen = {}


def _fault_due(kind, name, operation=None):
    """True for the first N calls (of `operation`, counted apart) on a resource named
    `...-<kind>N-...`."""
    m = re.search(r"-%s(\d+)-" % kind, name or "")
    if not m:
        return False
    with _lock:
        n = _seen.get((kind, operation, name), 0)
        _seen[(kind, operation, name)] = n + 1
    return n < int(m.group(1))


class ProvisionedThroughputExceeded(JsonRESTError):
    def __init__(self):
        super().__init__(
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        )


_put_item = DynamoDBBackend.put_item


def put_item(self, table_name, *args, **kwargs):
    if _fault_due("throttle", table_name):
        raise ProvisionedThroughputExceeded()
    return _put_item(self, table_name, *args, **kwargs)


DynamoDBBackend.put_item = put_item


class Throttling(JsonRESTError):
    def __init__(self):
        super().__init__(
            "com.amazonaws.dynamodb.v20120810#ThrottlingException", "Rate of requests exceeds the allowed throughput."
        )


def _busy_table(method):
    original = getattr(DynamoDBBackend, method)

    def busy(self, name, *args, **kwargs):
        if _fault_due("busy", name, method):
            raise Throttling()
        return original(self, name, *args, **kwargs)

    setattr(DynamoDBBackend, method, busy)


for _method in ["create_table", "describe_table", "update_time_to_live", "query", "update_item"]:
    _busy_table(_method)

_update_rule_group = waf_models.WAFV2Backend.update_rule_group


def update_rule_group(self, name, scope, id, description, rules, visibility_config, lock_token,
                      custom_response_bodies):
    if _fault_due("lock", name):
        arn = waf_models.make_arn_for_rule_group(name, self.account_id, self.region_name, id, scope)
        group = self.rule_groups.get(arn)
        if group is not None:
            group.lock_token = group._generate_lock_token()
        raise WAFOptimisticLockException()
    group = _update_rule_group(self, name, scope, id, description, rules, visibility_config,
                               lock_token, custom_response_bodies)
    if rules is not None and len(rules) == 0:
        group.rules = []
    return group


waf_models.WAFV2Backend.update_rule_group = update_rule_group


class WafInternalError(JsonRESTError):
    code = 500

    def __init__(self):
        super().__init__("WAFInternalErrorException", "Your request is valid, but WAF couldn't perform the operation because of a system problem.")


def _busy_group(method):
    original = getattr(waf_models.WAFV2Backend, method)

    def busy(self, name, *args, **kwargs):
        if _fault_due("busy", name, method):
            raise WafInternalError()
        return original(self, name, *args, **kwargs)

    setattr(waf_models.WAFV2Backend, method, busy)


for _method in ["create_rule_group", "get_rule_group"]:
    _busy_group(_method)

_list_rule_groups = waf_models.WAFV2Backend.list_rule_groups


def list_rule_groups(self, scope, *args, **kwargs):
    for g in list(self.rule_groups.values()):
        if g.scope == scope and _fault_due("busy", g.name, "list_rule_groups"):
            raise WafInternalError()
    return _list_rule_groups(self, scope, *args, **kwargs)


waf_models.WAFV2Backend.list_rule_groups = list_rule_groups

from moto.s3.responses import S3Response

_s3_get_object = S3Response.get_object


def s3_get_object(self):
    key = self.parse_key_name()
    if _fault_due("s3fail", key):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
                "<Message>Please reduce your request rate.</Message></Error>")
        return 503, {"Content-Type": "application/xml"}, body
    if _fault_due("s3slow", key):
        time.sleep(4)
    if _fault_due("s3cut", key):
        status, headers, body = _s3_get_object(self)
        data = body if isinstance(body, bytes) else str(body).encode()
        headers = dict(headers)
        headers["Content-Length"] = str(len(data))
        return status, headers, data[: len(data) // 2]
    return _s3_get_object(self)


S3Response.get_object = s3_get_object

from moto.kinesis import models as kinesis_models
from moto.kinesis.exceptions import InvalidArgumentError as KinesisInvalidArgument
from moto.kinesis.utils import decompose_shard_iterator


class KinesisThroughputExceeded(JsonRESTError):
    def __init__(self):
        super().__init__("ProvisionedThroughputExceededException", "Rate exceeded for shard.")


class KinesisExpiredIterator(JsonRESTError):
    def __init__(self):
        super().__init__("ExpiredIteratorException", "Iterator expired.")


def kinesis_split_shard(self, shard_to_split, new_starting_hash_key):
    at = int(new_starting_hash_key)
    shard = self.shards[shard_to_split]
    if not shard.starting_hash < at < shard.ending_hash or not shard.is_open:
        raise KinesisInvalidArgument(message=f"cannot split {shard.shard_id} at {at}")
    last_id = max(s._shard_id for s in self.shards.values())
    for i, (lo, hi) in enumerate([(shard.starting_hash, at - 1), (at, shard.ending_hash)]):
        child = kinesis_models.Shard(last_id + 1 + i, starting_hash=lo, ending_hash=hi,
                                     parent=shard.shard_id)
        # Sequence numbers grow across the stream, as on AWS.
        child.put_record_base = shard.get_max_sequence_number()
        self.shards[child.shard_id] = child
    shard.is_open = False


_shard_put_record = kinesis_models.Shard.put_record


def kinesis_shard_put_record(self, partition_key, data, explicit_hash_key):
    if not self.records and getattr(self, "put_record_base", 0):
        last = self.put_record_base
        self.records[last + 1] = kinesis_models.Record(partition_key, data, last + 1,
                                                       explicit_hash_key)
        return str(last + 1)
    return _shard_put_record(self, partition_key, data, explicit_hash_key)


def kinesis_get_shard_for_key(self, partition_key, explicit_hash_key):
    if explicit_hash_key:
        key = int(explicit_hash_key)
    else:
        key = int(kinesis_models.md5_hash(partition_key.encode("utf-8")).hexdigest(), 16)
    for shard in self.shards.values():
        if shard.is_open and shard.starting_hash <= key <= shard.ending_hash:
            return shard
    return None


_kinesis_get_records = kinesis_models.KinesisBackend.get_records


def kinesis_get_records(self, stream_arn, shard_iterator, limit):
    stream_name, shard_id, _ = decompose_shard_iterator(shard_iterator)
    if _fault_due("kthrottle", stream_name):
        raise KinesisThroughputExceeded()
    if _fault_due("kexpire", stream_name):
        raise KinesisExpiredIterator()
    next_iterator, records, behind = _kinesis_get_records(self, stream_arn, shard_iterator, limit)
    stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
    shard = stream.get_shard(shard_id)
    _, _, last = decompose_shard_iterator(next_iterator)
    if not shard.is_open and int(last) >= shard.get_max_sequence_number():
        next_iterator = None
    return next_iterator, records, behind


kinesis_models.Stream.split_shard = kinesis_split_shard
kinesis_models.Shard.put_record = kinesis_shard_put_record
kinesis_models.Stream.get_shard_for_key = kinesis_get_shard_for_key
kinesis_models.KinesisBackend.get_records = kinesis_get_records

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))

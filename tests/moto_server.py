#!/usr/bin/env python3
"""moto's server (S3, DynamoDB, WAFv2) for the test suite, extended where moto 5.2.5 differs
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

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))

"""Run a list of python-etcd calls against one URL; print one JSON line per call.

usage: /usr/bin/python3 python_etcd.py URL PLAN_JSON [--ca FILE] [--user USER --password PASSWORD]

PLAN_JSON is a list of steps, each one of:
  {"name": N, "call": METHOD, "args": [...], "kwargs": {...}}   client.METHOD(*args, **kwargs)
  {"name": N, "property": NAME}                                client.NAME (members, leader, stats, ...)
  {"name": N, "update": KEY, "value": V}                        read KEY, set .value = V, client.update(it)
  {"name": N, "flood": KEY, "count": C}                         C writes to KEY (to push history out)
In args and kwargs, {"$index": STEP} stands for the modifiedIndex that step returned
(indexes differ between two etcds, so a plan refers to them by name).

Each line: {"name": N, "result": ...} or {"name": N, "raised": "ExceptionClass", "errorCode": C}.
A result is an EtcdResult as fields (children flattened), or the property's value.
"""
import json
import sys
from urllib.parse import urlparse

import etcd


def as_json(result):
    if isinstance(result, etcd.EtcdResult):
        fields = {name: getattr(result, name) for name in ("action", "key", "value", "dir", "ttl", "newKey", "createdIndex", "modifiedIndex")}
        fields["etcd_index"] = getattr(result, "etcd_index", None)
        prev = getattr(result, "_prev_node", None)
        if prev is not None:
            fields["prevNode"] = as_json(prev)
        if result.dir:
            fields["children"] = [as_json(child) for child in result.get_subtree() if child.key != result.key]
        return fields
    return result


def main():
    url, plan = sys.argv[1], json.loads(sys.argv[2])
    flags = sys.argv[3:]
    option = lambda name: flags[flags.index(name) + 1] if name in flags else None
    parsed = urlparse(url)
    client = etcd.Client(host=parsed.hostname, port=parsed.port, protocol=parsed.scheme, ca_cert=option("--ca"),
                         username=option("--user"), password=option("--password"))
    indexes = {}

    def resolve(value):
        if isinstance(value, dict) and "$index" in value:
            return indexes[value["$index"]]
        if isinstance(value, dict):
            return {key: resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [resolve(item) for item in value]
        return value

    for step in plan:
        line = {"name": step["name"]}
        try:
            if "call" in step:
                result = getattr(client, step["call"])(*resolve(step.get("args", [])), **resolve(step.get("kwargs", {})))
            elif "property" in step:
                result = getattr(client, step["property"])
            elif "update" in step:
                current = client.read(step["update"])
                current.value = step["value"]
                result = client.update(current)
            elif "flood" in step:
                for i in range(step["count"]):
                    result = client.write(step["flood"], str(i))
            else:
                raise SystemExit("unknown step " + json.dumps(step))
            if isinstance(result, etcd.EtcdResult):
                indexes[step["name"]] = result.modifiedIndex
            line["result"] = as_json(result)
        except etcd.EtcdException as error:
            line["raised"] = type(error).__name__
            payload = error.payload if isinstance(error.payload, dict) else {}
            line["errorCode"] = payload.get("errorCode")
        print(json.dumps(line), flush=True)


main()

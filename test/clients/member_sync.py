"""Connect with python-etcd's allow_reconnect=True, which reads the member
list through URL and would fail over to those machines, then try an
anonymous write at URL and at every machine it learned.

usage: /usr/bin/python3 member_sync.py URL KEY [--ca FILE]

Prints one JSON object: {"machines": [...], "writes": {machine: outcome}}
where outcome is "written" or the exception class raised.
"""
import json
import sys
from urllib.parse import urlparse

import etcd


def client_for(url, ca, **options):
    parsed = urlparse(url)
    return etcd.Client(host=parsed.hostname, port=parsed.port, protocol=parsed.scheme, ca_cert=ca, **options)


def write(client, key):
    try:
        client.write(key, "anonymous")
        return "written"
    except etcd.EtcdException as error:
        return type(error).__name__


def main():
    url, key = sys.argv[1:3]
    flags = sys.argv[3:]
    ca = flags[flags.index("--ca") + 1] if "--ca" in flags else None
    synced = client_for(url, ca, allow_reconnect=True)
    machines = sorted(set(synced.machines) | set(synced._machines_cache) | {synced.base_uri})
    writes = {url: write(synced, key)}
    for machine in machines:
        writes[machine] = write(client_for(machine, ca), key)
    print(json.dumps({"machines": machines, "writes": writes}))


main()

"""boto3 contender of the transfer benchmark (run by bench/transfer.ts with /usr/bin/python3).

Reads one JSON command per line on stdin and answers one JSON line on stdout, so the client is
created once (as the Node contenders' clients are) and only the transfer itself is timed:

  {"op": "upload", "file": "...", "bucket": "...", "key": "..."}    -> {"ms": 1.2, "cpuMs": 0.9}
  {"op": "download", "bucket": "...", "key": "...", "file": "..."}  -> {"ms": 1.2, "cpuMs": 0.9}

cpuMs is the CPU time of this process (all its threads) during the transfer.

boto3's transfer defaults are kept (TransferConfig(): 8 MiB threshold and parts, 10 threads).
Only what the Swift s3api server needs is set: path-style addressing and, on botocore >= 1.36
(which sends CRC32 trailers in aws-chunked bodies by default, refused by Swift),
request_checksum_calculation / response_checksum_validation = "when_required".
"""

import json
import sys
import time

import boto3
import botocore
from botocore.config import Config

endpoint, region, access_key, secret_key = sys.argv[1:5]

settings = {"s3": {"addressing_style": "path"}}
checksums = "not needed (botocore < 1.36 sends no default checksums)"
try:
    config = Config(
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        **settings,
    )
    checksums = "request_checksum_calculation=response_checksum_validation=when_required"
except TypeError:
    config = Config(**settings)

s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name=region,
    aws_access_key_id=access_key,
    aws_secret_access_key=secret_key,
    config=config,
)

print(
    json.dumps(
        {
            "ready": True,
            "boto3": boto3.__version__,
            "botocore": botocore.__version__,
            "python": sys.version.split()[0],
            "config": "addressing_style=path; " + checksums,
        }
    ),
    flush=True,
)

for line in sys.stdin:
    if not line.strip():
        continue
    command = json.loads(line)
    try:
        started = time.perf_counter()
        cpu_started = time.process_time()
        if command["op"] == "upload":
            with open(command["file"], "rb") as source:
                s3.upload_fileobj(source, command["bucket"], command["key"])
        elif command["op"] == "download":
            s3.download_file(command["bucket"], command["key"], command["file"])
        else:
            raise ValueError("unknown op " + command["op"])
        answer = {
            "ms": (time.perf_counter() - started) * 1000,
            "cpuMs": (time.process_time() - cpu_started) * 1000,
        }
    except Exception as err:  # reported to the orchestrator, which fails the run
        answer = {"error": "%s: %s" % (type(err).__name__, err)}
    print(json.dumps(answer), flush=True)

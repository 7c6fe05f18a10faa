"""moto's server, answering one request at a time.

`moto_server` runs werkzeug with threads, and moto checks a DynamoDB condition and writes
the item in two steps without a lock: two concurrent conditional writes can both succeed,
which real DynamoDB never allows. The race tests (one claim, one token lease, one rate
slot) need DynamoDB's atomicity, so the tests start moto through this script instead.
Usage: moto_serial.py HOST PORT
"""

import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=False)

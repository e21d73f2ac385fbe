"""The environment variables the stack sets and the runtime reads.

The names are repeated here rather than imported: at synth time ``infra`` imports nothing of
``runtime`` but the manifest loader (importing ``runtime.bootstrap`` would load the Lua engine).
A test checks they equal the runtime's own constants.
"""

from __future__ import annotations

#: The application folder (``runtime.bootstrap.APP_ENV``).
APP_ENV = "UNITS_APP"
#: On a remote function's Lambda, the entry ids it runs itself (``runtime.bootstrap``).
HOME_FUNCTIONS_ENV = "UNITS_HOME_FUNCTIONS"
#: ``{"ns:name": "lambda function name"}`` of remote functions (``runtime.aws.lambda_invoke``).
REMOTE_FUNCTIONS_ENV = "UNITS_REMOTE_FUNCTIONS"
#: The DynamoDB table of process snapshots and names and of workflow event logs
#: (``runtime.bootstrap.TABLE_ENV``).
TABLE_ENV = "UNITS_TABLE"
#: ``{"ns:host": "queue url"}`` of every process host's FIFO queue (``QUEUES_ENV``) and of its
#: standard delay queue (``DELAY_QUEUES_ENV``).
QUEUES_ENV = "UNITS_PROCESS_QUEUES"
DELAY_QUEUES_ENV = "UNITS_PROCESS_DELAY_QUEUES"
#: On a worker Lambda: the process host whose queues it consumes (``HOST_ENV``).
HOST_ENV = "UNITS_PROCESS_HOST"
#: ``{"ns:host": "state machine arn"}`` of every workflow host's driver
#: (``runtime.bootstrap.WORKFLOW_MACHINES_ENV``), and ``{"ns:host": "queue url"}`` of every
#: workflow host's activity queue (``ACTIVITY_QUEUES_ENV``).
WORKFLOW_MACHINES_ENV = "UNITS_WORKFLOW_MACHINES"
ACTIVITY_QUEUES_ENV = "UNITS_ACTIVITY_QUEUES"
#: On a workflow host's step and activity Lambdas: that host (``WORKFLOW_HOST_ENV``).
WORKFLOW_HOST_ENV = "UNITS_WORKFLOW_HOST"
#: The DynamoDB table of the store entries (``runtime.resources.STORE_TABLE_ENV``) and the
#: ``{"ns:name": "bucket"}`` of the cloudstorage.s3 entries (``runtime.resources.BUCKETS_ENV``).
STORE_TABLE_ENV = "UNITS_STORE_TABLE"
BUCKETS_ENV = "UNITS_BUCKETS"
#: ``{"ns:name": "queue url"}`` of the queue.queue entries (``runtime.message_queues.QUEUES_ENV``)
#: and, on a consumer's Lambda, the queue.consumer it runs (``CONSUMER_ENV``).
APP_QUEUES_ENV = "UNITS_QUEUES"
CONSUMER_ENV = "UNITS_QUEUE_CONSUMER"
#: Where Lambda unpacks the code asset; the bundle puts the application folder at ``app/``.
TASK_ROOT = "/var/task"
METRICS_NAMESPACE = "ComputeUnits"


def base_environment(*, service_name: str, log_level: str, app_folder: str) -> dict[str, str]:
    """What every Lambda of the stack gets: the app folder and the Powertools settings."""
    return {
        APP_ENV: f"{TASK_ROOT}/{app_folder}",
        "POWERTOOLS_SERVICE_NAME": service_name,
        "POWERTOOLS_LOG_LEVEL": log_level,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
    }

"""CDK constructs that deploy an application folder: one module per job.

``settings`` resolves what to build from context and environment, ``plan`` checks the loaded
application and decides the Lambdas and routes (no CDK involved), ``bundling`` builds the Lambda
code asset without Docker, ``lambdas`` is the one Lambda shape every host uses, ``functions`` and
``api`` are the function hosts; ``tables`` (the table process and workflow hosts share),
``queues`` (one process host's queues, one workflow host's activity queue, and their alarms),
``processes`` (the worker Lambdas and their grants) and ``services`` (the deploy-time service
start) are the process hosts; ``workflows`` (the driver state machines, step/activity
Lambdas and their grants) the workflow hosts; ``environment`` names the variables the runtime
reads, ``nag`` holds the cdk-nag wiring, ``errors`` the one error synth stops with, and
``stack`` puts them together.
"""

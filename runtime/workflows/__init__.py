"""Workflows: durable ``main(input)`` runs over a DynamoDB event log, driven by Step Functions.

The engine (events, journal, replay, sticky cache, recorded calls) is :mod:`runtime.durable`;
this package is its Step Functions driver.

Modules:

- :mod:`.log`: the run's history (a :mod:`runtime.durable.journal`), its index item, the
  inbox, names, the wait token, the dispatch mark.
- :mod:`.step`: one step against the log, with the sticky cache of kept replays.
- :mod:`.client`: start, signal, cancel, terminate, describe runs from anywhere.
- :mod:`.host`: what the step and activity Lambdas do.
- :mod:`.driver`: Step Functions (start, wake, end) and the activity queue, through boto3.
- :mod:`.asl`: the driver state machine's definition, the one place it is generated.
- :mod:`.process_context`: ``process.*`` inside a workflow (sends and spawns are commands).
- :mod:`.local`: workflow hosts on this machine, moto's interpreter running the driver.
"""

"""Workflows: durable ``main(input)`` runs over a DynamoDB event log, driven by Step Functions.

Modules:

- :mod:`.events`: the history's event types; commands and their outcomes share a ``cmd``.
- :mod:`.replay`: one step of a run: replay the code against the history (or resume a kept
  replay), detect non-determinism (naming the Lua line), record new commands, due timers and
  the end of the run.
- :mod:`.retries`: activity retry policies; retries are durable timers.
- :mod:`.log`: the history in DynamoDB (conditional, transactional appends; the run's index
  item; the inbox; names; the wait token; the dispatch mark).
- :mod:`.step`: one step against the log, with the sticky cache of kept replays.
- :mod:`.client`: start, signal, cancel, terminate, describe runs from anywhere.
- :mod:`.host`: what the step and activity Lambdas do (inline attempts: :mod:`.inline`).
- :mod:`.driver`: Step Functions (start, wake, end) and the activity queue, through boto3.
- :mod:`.asl`: the driver state machine's definition, the one place it is generated.
- :mod:`.process_context`: ``process.*`` inside a workflow (sends and spawns are commands).
- :mod:`.local`: workflow hosts on this machine, moto's interpreter running the driver.

Not built yet: activity timeouts and continue-as-new.
"""

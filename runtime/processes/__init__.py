"""Processes: actors on an SQS FIFO queue per host with their state in DynamoDB.

- :mod:`.pids` names processes, :mod:`.envelope` is the wire format of everything sent to one;
- :mod:`.store` keeps snapshots and registered names in DynamoDB;
- :mod:`.mailboxes` sends envelopes to host queues (and delayed ones through each host's
  delay queue);
- :mod:`.turns` runs one actor's messages through its Lua handlers;
- :mod:`.worker` is the SQS batch consumer: turns, one conditional commit per actor, outbox;
- :mod:`.system` ties them together for code that spawns and sends from outside an actor.
"""

"""The DynamoDB table of the process and workflow hosts: actor snapshots, registered names and
workflow event logs.

One table for the whole application, keyed as ``runtime.processes.store`` and
``runtime.workflows.log`` read it (``pk`` and ``sk``, both strings) and as the local harness
creates it (``runtime.aws.dynamodb.create_table``). The stack makes it when the application has
process hosts, workflow hosts or both.

TTL is on, on the ``ttl`` attribute (epoch seconds), which the runtime writes only on what has
ended: an ended run's items, an exited or crashed actor's snapshot, a spent workflow name
(``runtime.aws.dynamodb.expires_at``: the end plus the host's ``retention``). Nothing live has
it, so DynamoDB's sweep never touches a running actor or run.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

#: The table's logical id, fixed. It is the id the table got when only process hosts had one
#: (built inside them, at ``Processes/Table/Table``): a stack deployed then keeps its table
#: on update instead of CloudFormation replacing it, which would delete every snapshot.
LOGICAL_ID = "ProcessesTable7512CED8"
#: The TTL attribute (``runtime.aws.dynamodb.TTL_ATTRIBUTE``; a test checks they are equal).
TTL_ATTRIBUTE = "ttl"


class ProcessTable(Construct):
    """``table``: on-demand, point-in-time recovery, encrypted with the AWS-managed key, TTL on
    :data:`TTL_ATTRIBUTE`.

    **Production** (``production``, from the stage): RETAIN and deletion protection, so
    neither ``cdk destroy`` nor a console click deletes the state of a live application.

    **Otherwise, removal policy: DESTROY.** ``cdk destroy`` deletes the table with the rest of
    the stack:

    - the table is meaningless without the stack's queues, which go with the stack (the
      messages in them, the outboxes that point at them); a retained table would be an orphan
      that no later deploy uses, since its name is generated;
    - deleting a table that has point-in-time recovery on makes DynamoDB keep a system backup
      (``<table>$DeletedTableBackup``) for 35 days at no charge, so a mistaken destroy can
      still be restored;
    - nothing billable stays behind, as for the log groups.

    The key schema and the logical id are fixed, so no update of this stack replaces (and so
    deletes) the table.
    """

    def __init__(self, scope: Construct, construct_id: str, *, production: bool = False) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            # Pay per request: nothing is charged at rest but storage, and actors' traffic is
            # bursty (a fan-out, a restart storm), which provisioned capacity would throttle.
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # The aws/dynamodb key: no key to manage or pay for monthly, and nothing to grant,
            # since DynamoDB uses it on behalf of whoever may call DynamoDB on the table.
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.RETAIN if production else RemovalPolicy.DESTROY,
            deletion_protection=production or None,
        )
        cfn_table = self.table.node.default_child
        assert isinstance(cfn_table, dynamodb.CfnTable)
        cfn_table.override_logical_id(LOGICAL_ID)

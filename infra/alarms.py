"""The stack's alarms: their shapes, and the one SNS topic every alarm notifies.

- :func:`at_least_one`: go off as soon as a count reaches one (Lambda errors, a DLQ's first
  message, failed executions, the kit's own error metrics, the API's 5xx answers);
- :func:`oldest_message_alarm`: an event-source queue whose oldest message is older than it
  should ever be while its consumer keeps up (the consumer is failing or throttled);
- :class:`AlarmTopic`: the SNS topic (with an optional email subscription) that
  :meth:`AlarmTopic.notify_all` makes the action of every alarm under a scope.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from infra import nag
from infra.environment import METRICS_NAMESPACE

#: How old an event-source queue's oldest message may get before its alarm goes off. A queue
#: whose consumer keeps up holds messages for seconds; one that is retried (visibility
#: timeout, then another receive) until it dead-letters is a few minutes old at most with the
#: defaults, and the DLQ alarm covers it.
OLDEST_MESSAGE_SECONDS = 15 * 60


def at_least_one(
    scope: Construct, construct_id: str, metric: cloudwatch.IMetric, description: str
) -> cloudwatch.Alarm:
    """An alarm on ``metric`` reaching 1 in one period. Missing data is not breaching: SQS,
    Lambda and Step Functions send no datapoint when nothing happened, which is all clear."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def oldest_message_alarm(
    scope: Construct,
    construct_id: str,
    queue: sqs.Queue,
    description: str,
    *,
    delay: int = 0,
) -> cloudwatch.Alarm:
    """An alarm on ``queue``'s oldest message passing :data:`OLDEST_MESSAGE_SECONDS` (plus
    ``delay``, the seconds a message may wait there by design) at any time of 5 minutes."""
    metric = queue.metric_approximate_age_of_oldest_message(
        period=Duration.minutes(5), statistic="Maximum"
    )
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=f"{description}: the oldest message is over "
        f"{(OLDEST_MESSAGE_SECONDS + delay) // 60} minutes old (its consumer is failing, "
        "throttled or not keeping up)",
        metric=metric,
        threshold=OLDEST_MESSAGE_SECONDS + delay,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def kit_metric(name: str, service: str) -> cloudwatch.Metric:
    """One of the kit's own metrics (Powertools EMF from the handlers: namespace
    ``ComputeUnits``, dimension ``service`` = the stack name), summed per minute."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service},
        period=Duration.minutes(1),
        statistic="Sum",
    )


class AlarmTopic(Construct):
    """``topic``: the SNS topic every alarm of the stack notifies, with ``email`` subscribed
    when given (AWS sends it a confirmation message first)."""

    def __init__(self, scope: Construct, construct_id: str, *, email: str | None = None) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="Compute Units alarms",
            enforce_ssl=True,
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        nag.suppress(
            self.topic,
            "AwsSolutions-SNS2",
            "CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed key "
            "(aws/sns: its key policy cannot grant cloudwatch.amazonaws.com), and a customer "
            "managed key costs $1 a month per stack. The topic carries alarm notifications "
            "(alarm names, metric values), never application data; TLS is enforced.",
        )

    def notify_all(self, scope: IConstruct) -> int:
        """Make the topic the alarm action of every alarm under ``scope``; returns how many."""
        action = actions.SnsAction(self.topic)
        alarms = [c for c in scope.node.find_all() if isinstance(c, cloudwatch.Alarm)]
        for alarm in alarms:
            alarm.add_alarm_action(action)
        return len(alarms)

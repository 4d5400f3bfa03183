/**
 * What an operator watches: one CloudWatch dashboard (throughput, block seal latency, queue depth
 * and age, conflicts and re-executions, errors, workers) and the alarms that page someone
 * (a dead-letter queue is not empty, a queue's oldest message is too old, a function fails),
 * sent to an SNS topic encrypted with a customer-managed key that CloudWatch may use.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib'
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  PeriodOverride,
  SingleValueWidget,
  Stats,
  TextWidget,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch'
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions'
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam'
import { Key } from 'aws-cdk-lib/aws-kms'
import { FilterPattern, MetricFilter, type ILogGroup } from 'aws-cdk-lib/aws-logs'
import { Topic } from 'aws-cdk-lib/aws-sns'
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions'
import { Construct } from 'constructs'

import type { IFunction } from 'aws-cdk-lib/aws-lambda'
import type { IQueue } from 'aws-cdk-lib/aws-sqs'
import type { QueueRole } from '../../shared/resources.ts'

/** One custom metric the functions emit (namespace, name, dimensions as emitted, unit). */
export interface EmittedMetric {
  metricName: string
  /** Dimensions exactly as the emitter writes them (none: the metric has no dimensions). */
  dimensions?: Record<string, string>
  /** Statistic to chart (Sum for counts, p50/p90/Maximum for latencies). */
  statistics: readonly string[]
  label: string
}

/** The custom metrics the dashboard charts, grouped by panel. */
export interface MetricCatalog {
  namespace: string
  throughput: readonly EmittedMetric[]
  latency: readonly EmittedMetric[]
  conflicts: readonly EmittedMetric[]
  errors: readonly EmittedMetric[]
}

export interface ClusterMonitoringProps {
  dashboardName: string
  queues: Readonly<Record<QueueRole, { queue: IQueue; deadLetter: IQueue }>>
  functions: Readonly<Record<string, IFunction>>
  /** The worker service, for its task count (Container Insights). */
  workers: { clusterName: string; serviceName: string; minWorkers: number; maxWorkers: number }
  metrics: MetricCatalog
  /** Log groups by role: ERROR lines (JSON `level`) are counted into `${namespace}/ErrorLogLines_${role}`. */
  logGroups?: Readonly<Record<string, ILogGroup>>
  /** Oldest-message age (seconds) above which each queue alarms. */
  oldestMessageAgeSecMax: Readonly<Record<QueueRole, number>>
  alarmEmail?: string
}

const PERIOD = Duration.minutes(1)

export class ClusterMonitoring extends Construct {
  readonly dashboard: Dashboard
  readonly topic: Topic
  readonly alarms: Alarm[] = []

  constructor(scope: Construct, id: string, props: ClusterMonitoringProps) {
    super(scope, id)
    const key = new Key(this, 'AlarmTopicKey', {
      description: 'parevm alarm notifications (CloudWatch publishes to the encrypted topic)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    })
    key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    )
    this.topic = new Topic(this, 'AlarmTopic', { masterKey: key, enforceSSL: true, displayName: 'parevm alarms' })
    if (props.alarmEmail !== undefined) this.topic.addSubscription(new EmailSubscription(props.alarmEmail))
    const action = new SnsAction(this.topic)

    const roles = Object.keys(props.queues) as QueueRole[]
    for (const role of roles) {
      const { queue, deadLetter } = props.queues[role]
      this.alarms.push(
        new Alarm(this, `${role}-dlq-not-empty`, {
          alarmDescription: `the ${role} dead-letter queue holds messages: they failed ${role === 'ingress' ? 'intake' : 'processing'} repeatedly; inspect and redrive them`,
          metric: deadLetter.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: Stats.MAXIMUM }),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
        new Alarm(this, `${role}-oldest-message-age`, {
          alarmDescription: `the oldest message on the ${role} queue waited more than ${props.oldestMessageAgeSecMax[role]} s: the consumer is stalled or too slow`,
          metric: queue.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: Stats.MAXIMUM }),
          threshold: props.oldestMessageAgeSecMax[role],
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 3,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      )
    }
    for (const [name, fn] of Object.entries(props.functions)) {
      this.alarms.push(
        new Alarm(this, `${name}-errors`, {
          alarmDescription: `the ${name} function failed (Errors > 0 in 5 minutes); see its log group`,
          metric: fn.metricErrors({ period: Duration.minutes(5), statistic: Stats.SUM }),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      )
    }
    for (const alarm of this.alarms) alarm.addAlarmAction(action)

    const custom = (m: EmittedMetric): IMetric[] =>
      m.statistics.map(
        (statistic) =>
          new Metric({
            namespace: props.metrics.namespace,
            metricName: m.metricName,
            ...(m.dimensions !== undefined ? { dimensionsMap: m.dimensions } : {}),
            statistic,
            period: PERIOD,
            label: m.statistics.length > 1 ? `${m.label} ${statistic}` : m.label,
          }),
      )
    // Errors a function logs but survives (a failed record in a partial batch response is not a
    // Lambda error) and the worker's, which has no Errors metric of its own.
    const logErrors: IMetric[] = []
    for (const [role, logGroup] of Object.entries(props.logGroups ?? {})) {
      const filter = new MetricFilter(this, `${role}-error-lines`, {
        logGroup,
        filterPattern: FilterPattern.stringValue('$.level', '=', 'ERROR'),
        metricNamespace: props.metrics.namespace,
        metricName: `ErrorLogLines_${role}`,
        metricValue: '1',
        defaultValue: 0,
      })
      logErrors.push(filter.metric({ period: PERIOD, statistic: Stats.SUM, label: `${role} error log lines` }))
    }
    const runningTasks = new Metric({
      namespace: 'ECS/ContainerInsights',
      metricName: 'RunningTaskCount',
      dimensionsMap: { ClusterName: props.workers.clusterName, ServiceName: props.workers.serviceName },
      statistic: Stats.AVERAGE,
      period: PERIOD,
      label: 'running workers',
    })
    const wide = { width: 12, height: 6 }

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      periodOverride: PeriodOverride.AUTO,
      defaultInterval: Duration.hours(3),
    })
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# parevm\nTransactions enter on the ingress queue; the sequencer plans blocks; GPU workers (${props.workers.minWorkers}..${props.workers.maxWorkers}) execute shards; the coordinator validates, re-executes and seals.`,
        width: 24,
        height: 2,
      }),
    )
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Throughput (per minute)',
        left: [
          ...props.metrics.throughput.flatMap(custom),
          props.queues.ingress.queue.metricNumberOfMessagesSent({ period: PERIOD, label: 'transactions submitted' }),
        ],
        ...wide,
      }),
      new GraphWidget({ title: 'Block seal latency', left: props.metrics.latency.flatMap(custom), ...wide }),
    )
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Queue depth (visible + in flight)',
        left: roles.map(
          (role) =>
            new MathExpression({
              // Metric ids are shared by the whole graph: one pair per queue.
              expression: `visible_${role} + inflight_${role}`,
              usingMetrics: {
                [`visible_${role}`]: props.queues[role].queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD }),
                [`inflight_${role}`]: props.queues[role].queue.metricApproximateNumberOfMessagesNotVisible({ period: PERIOD }),
              },
              label: role,
              period: PERIOD,
            }),
        ),
        right: roles.map((role) => props.queues[role].deadLetter.metricApproximateNumberOfMessagesVisible({ period: PERIOD, label: `${role} dead letters` })),
        ...wide,
      }),
      new GraphWidget({
        title: 'Age of oldest message (s)',
        left: roles.map((role) => props.queues[role].queue.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: Stats.MAXIMUM, label: role })),
        ...wide,
      }),
    )
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Conflicts and re-executions', left: props.metrics.conflicts.flatMap(custom), ...wide }),
      new GraphWidget({
        title: 'Errors',
        left: [
          ...Object.entries(props.functions).flatMap(([name, fn]) => [
            fn.metricErrors({ period: PERIOD, statistic: Stats.SUM, label: `${name} errors` }),
            fn.metricThrottles({ period: PERIOD, statistic: Stats.SUM, label: `${name} throttles` }),
          ]),
          ...props.metrics.errors.flatMap(custom),
          ...logErrors,
        ],
        ...wide,
      }),
    )
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Workers', left: [runningTasks], leftYAxis: { min: 0 }, ...wide }),
      new GraphWidget({
        title: 'Function duration (ms)',
        left: Object.entries(props.functions).map(([name, fn]) => fn.metricDuration({ period: PERIOD, statistic: Stats.p(90), label: `${name} p90` })),
        ...wide,
      }),
    )
    this.dashboard.addWidgets(
      new SingleValueWidget({
        title: 'Dead letters now',
        metrics: roles.map((role) => props.queues[role].deadLetter.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: Stats.MAXIMUM, label: role })),
        width: 24,
        height: 3,
      }),
    )
  }
}

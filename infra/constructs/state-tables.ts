/**
 * The DynamoDB tables of shared/resources.ts: on-demand capacity, point-in-time recovery,
 * encryption at rest with the AWS-managed key, and TTL where the records are temporary
 * (plans and staged results, deleted after sealing; TTL removes any a crash left behind).
 */
import { RemovalPolicy } from 'aws-cdk-lib'
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb'
import { Construct } from 'constructs'

import { ALL_TABLES, TABLES, tableName } from '../../shared/resources.ts'

import type { TableName } from '../../shared/ports/kv-store.ts'

export interface StateTablesProps {
  /** Physical names are `${prefix}-${table}` (shared/resources.ts). */
  prefix: string
  /** DESTROY (default) lets `cdk destroy` remove the data; RETAIN keeps the tables. */
  removalPolicy?: RemovalPolicy
}

export class StateTables extends Construct {
  readonly tables: Readonly<Record<TableName, Table>>

  constructor(scope: Construct, id: string, props: StateTablesProps) {
    super(scope, id)
    const tables = {} as Record<TableName, Table>
    for (const name of ALL_TABLES) {
      const def = TABLES[name]
      tables[name] = new Table(this, name, {
        tableName: tableName(props.prefix, name),
        partitionKey: { name: def.partitionKey, type: AttributeType.STRING },
        sortKey: { name: def.sortKey, type: AttributeType.STRING },
        billingMode: BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: TableEncryption.AWS_MANAGED,
        ...(def.ttlAttribute !== undefined ? { timeToLiveAttribute: def.ttlAttribute } : {}),
        removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
      })
    }
    this.tables = tables
  }

  table(name: TableName): Table {
    return this.tables[name]
  }
}

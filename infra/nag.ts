/**
 * Security checks at synth time: cdk-nag's AwsSolutions pack runs as a CDK policy-validation
 * plugin, so `cdk synth` and `cdk deploy` stop on any finding that is not acknowledged.
 * Each acknowledgement sits beside the resource it concerns and carries its reason.
 */
import { Validations, type App } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'

import type { IConstruct } from 'constructs'

export interface NagAcknowledgement {
  /** The finding, as cdk-nag names it: `AwsSolutions-IAM5[Resource::*]`, `AwsSolutions-ECS2`. */
  rule: string
  reason: string
}

export function acknowledgeNag(scope: IConstruct, ...acks: NagAcknowledgement[]): void {
  Validations.of(scope).acknowledge(...acks.map(({ rule, reason }) => ({ id: `AwsSolutions::${rule}`, reason })))
}

export function addSecurityChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
}

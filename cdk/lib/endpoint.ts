import { Duration, ITaggable, Lazy, TagManager, TagType } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ResourceOptions, customResource } from './scaling';

/** A variant property UpdateEndpoint takes from the new configuration even when the others are retained. */
export enum VariantPropertyType {
  DESIRED_INSTANCE_COUNT = 'DesiredInstanceCount',
  DESIRED_WEIGHT = 'DesiredWeight',
  DATA_CAPTURE_CONFIG = 'DataCaptureConfig',
}

/** Props of {@link Endpoint}. */
export interface EndpointProps extends ResourceOptions {
  /** The endpoint configuration; a new name updates the endpoint in place, its auto scaling kept. */
  readonly endpointConfigName: string;
  /** @default a name made from the stack name and the construct's logical id, as CloudFormation names resources */
  readonly endpointName?: string;
  /**
   * As UpdateEndpoint's `DeploymentConfig`, in its PascalCase (`BlueGreenUpdatePolicy`, `RollingUpdatePolicy`,
   * `AutoRollbackConfiguration`).
   * @default SageMaker's (all at once)
   */
  readonly deploymentConfig?: { [key: string]: any };
  /**
   * Keep every variant's current properties (the scaled instance count above all) through an update.
   * @default true, with DesiredWeight and DataCaptureConfig taken from the new configuration
   */
  readonly retainAllVariantProperties?: boolean;
  /** The variant properties taken from the new configuration although the others are retained. @default see retainAllVariantProperties */
  readonly excludeRetainedVariantProperties?: VariantPropertyType[];
  /** Keep the endpoint's deployment configuration when an update gives none. @default false */
  readonly retainDeploymentConfig?: boolean;
  /** Tags of the endpoint (`Tags.of()` adds to them). @default none */
  readonly tags?: { [key: string]: string };
  /** Take over an endpoint made by something else. @default false */
  readonly adoptExisting?: boolean;
}

/** `Custom::SageMakerEndpoint`: an endpoint whose configuration updates keep its auto scaling. */
export class Endpoint extends Construct implements ITaggable {
  /** The endpoint's ARN (the resource's physical id, as the native `Ref`). */
  public readonly endpointArn: string;
  /** The endpoint's name. */
  public readonly endpointName: string;
  /** The targets the last update restored, comma-separated. */
  public readonly attrRestoredTargets: string;
  /** The targets the last update removed with their variants, comma-separated. */
  public readonly attrRemovedTargets: string;
  /** The variants whose scaled capacity the last update could not set back, comma-separated. */
  public readonly attrCapacityNotRestored: string;
  /** The endpoint's tags (`Tags.of()` reaches them). */
  public readonly tags: TagManager;

  constructor(scope: Construct, id: string, props: EndpointProps) {
    super(scope, id);
    this.tags = new TagManager(TagType.KEY_VALUE, 'Custom::SageMakerEndpoint', props.tags);
    const created = customResource(this, 'Custom::SageMakerEndpoint', props, Duration.hours(1), {
      EndpointName: props.endpointName,
      EndpointConfigName: props.endpointConfigName,
      DeploymentConfig: props.deploymentConfig,
      RetainAllVariantProperties: props.retainAllVariantProperties,
      ExcludeRetainedVariantProperties: props.excludeRetainedVariantProperties?.map((p) => ({ VariantPropertyType: p })),
      RetainDeploymentConfig: props.retainDeploymentConfig,
      AdoptExisting: props.adoptExisting,
      Tags: Lazy.any({ produce: () => this.tags.renderTags() }),
    });
    this.endpointArn = created.ref;
    this.endpointName = created.getAttString('EndpointName');
    this.attrRestoredTargets = created.getAttString('RestoredTargets');
    this.attrRemovedTargets = created.getAttString('RemovedTargets');
    this.attrCapacityNotRestored = created.getAttString('CapacityNotRestored');
  }
}

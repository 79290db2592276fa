/**
 * `registry-mirrors`: the three components, their arguments and outputs. Loading this module loads `@pulumi/pulumi`
 * and no cloud or Kubernetes SDK; those load on the code paths that create their resources. Cloud-specific helpers
 * live in `registry-mirrors/aws`, `registry-mirrors/alicloud` and `registry-mirrors/kubernetes`; the pure renderers
 * and validators in `registry-mirrors/core`.
 *
 * @module
 */
export { MirrorDaemonConfig, type MirrorDaemonConfigArgs } from "./mirror-daemon-config";
export {
  RegionalMirrorSelector,
  type RegionalMirrorProbeArgs,
  type RegionalMirrorSelectorArgs,
} from "./regional-mirror-selector";
export { RegistryCredentialSecret, type RegistryCredentialSecretArgs } from "./registry-credential-secret";
export {
  PullSecretRefresher,
  type PullSecretRefresherArgs,
  type PullSecretRefresherInputs,
  type RefresherAlicloudIdentity,
  type RefresherAwsIdentity,
  type RefresherSource,
} from "./pull-secret-refresher";
export type { RefresherEndpoints } from "./core/kubernetes";
export {
  PullThroughCache,
  type PullThroughCacheArgs,
  type PullThroughCacheCredentials,
  type PullThroughCacheObjects,
  type PullThroughCacheStorage,
  type PullThroughCacheUpstreamArgs,
} from "./kubernetes/pull-through-cache";
export type { CacheStorageInput, CacheTlsInput, SecretKeyRef, UpstreamCredentialsRef } from "./core/cache";
export type { AcrTokenSource, EcrTokenSource, RegistryCredentialInput } from "./credentials";
export type { Affinity, KubernetesObject, NodeConfigKubernetesArgs } from "./kubernetes/node-config";
export type { EcrUpstreamCredentialArgs } from "./aws/ecr-upstream-credential";
export type {
  K3sRegistryAuthArgs,
  K3sRenderOptionsArgs,
  MirrorArg,
  MirrorEndpointArgs,
  MirrorPolicyArgs,
  RegistryMirrorsArgs,
  RuntimeRenderOptionsArgs,
} from "./args";

// What the arguments and outputs are made of.
export { PolicyError, type Warnings } from "./core/errors";
export {
  ANY_REGISTRY,
  DOCKER_HUB,
  type Capability,
  type MirrorAuth,
  type MirrorEndpoint,
  type MirrorEndpointInput,
  type MirrorPolicy,
  type MirrorPolicyInput,
  type PullFromMirror,
  type RegistryMirrors,
  type RegistryMirrorsInput,
  type HarborProxyInput,
  harborProxyPolicy,
  normalisePolicy,
} from "./core/policy";
export type { DockerAddressPoolInput, DockerSettingsInput, DockerUlimitInput } from "./core/render/docker";
export type { ContainerdRenderOptions, K3sRenderOptions, RuntimeRenderOptions } from "./core/render/runtimes";
export type { K3sRegistryAuth, K3sRegistryTls } from "./core/render/k3s";
export { RUNTIME_NAMES, type NodeFile, type RestartPolicy, type RuntimeName } from "./core/render/types";
export type { NodeConfigMode, ResourceRequirements, Toleration } from "./core/kubernetes";
export type { CloudName, MirrorInput, NetworkKind, UserCatalog, UserCatalogRegion } from "./core/regions/catalog";
export { DEAD_MIRRORS, type DeadMirror } from "./core/regions/dead-mirrors";
export {
  type BuildxSettings,
  CI_TARGETS,
  type CiMirrorSettings,
  type CiMirrorSettingsOf,
  type CiOptions,
  type CiTarget,
  ciMirrorSettings,
  type DindConfigMode,
  type DindSettings,
  type GitlabRunnerExecutor,
  type GitlabRunnerSettings,
  type KanikoSettings,
} from "./core/ci";

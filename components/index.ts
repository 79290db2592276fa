/**
 * registry-mirrors: the three components and the pure core. Loading this module loads `@pulumi/pulumi` and
 * no cloud or Kubernetes SDK; those load on the code paths that create their resources, and the cloud-specific
 * helpers live in the subpaths `registry-mirrors/aws`, `registry-mirrors/alicloud` and `registry-mirrors/kubernetes`.
 */
export { MirrorDaemonConfig, MirrorDaemonConfigArgs } from "./mirror-daemon-config";
export {
  RegionalMirrorSelector,
  RegionalMirrorSelectorArgs,
  RegionalMirrorProbeArgs,
} from "./regional-mirror-selector";
export { RegistryCredentialSecret, RegistryCredentialSecretArgs } from "./registry-credential-secret";
export type { NodeConfigKubernetesArgs } from "./kubernetes/node-config";
export * from "./core";

/**
 * Pure Kubernetes pieces for the node-config DaemonSet and the registry pull secret: manifests, field validators
 * and credentials. Plain objects in, plain objects out: the Pulumi layer (components/kubernetes) wraps them in
 * resources.
 */
export * from "./credentials";
export * from "./manifests";
export * from "./validators";
export * from "./refresher";
export * from "./refresher-config";
export * from "./refresher-policies";

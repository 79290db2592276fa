// `registry-mirrors/aws`: AWS delivery helpers. Nothing here loads @pulumi/aws at import time: the code
// paths that create resources load the SDK subpath they need when they run.
export * from "./userdata";
export * from "./ecr-pull-through";
// The ECR token source of RegistryCredentialSecret (valid 12 hours; renewed by its refresher or each `pulumi up`).
export { EcrTokenSource, ecrCredential } from "./ecr-token";

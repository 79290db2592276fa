// `registry-mirrors/aws`: AWS delivery helpers. Nothing here loads @pulumi/aws at import time: the code
// paths that create resources load the SDK subpath they need when they run.
export * from "./userdata";
export * from "./ecr-pull-through";

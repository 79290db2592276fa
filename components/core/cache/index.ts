/** The self-hosted pull-through cache (CNCF Distribution in proxy mode) as settings, configuration and manifests. */
export * from "./config";
export * from "./manifests";
export * from "./settings";

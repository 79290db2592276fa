import type * as Yaml from "yaml";

/**
 * The `yaml` library, loaded on first use: importing the package root then costs little more than importing
 * `@pulumi/pulumi` alone (see BENCHMARKS.md, import cost), since most programs never render YAML.
 */
export function yaml(): typeof Yaml {
  return require("yaml") as typeof Yaml;
}

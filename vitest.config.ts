import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

// Examples import the package by its published name; in this repository that name maps to the sources.
const alias = [
  { find: /^registry-mirrors$/, replacement: resolve(__dirname, "components/index.ts") },
  {
    find: /^registry-mirrors\/(aws|alicloud|kubernetes|core)$/,
    replacement: resolve(__dirname, "components/$1/index.ts"),
  },
];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      { extends: true, test: { name: "components", include: ["test/components/**/*.test.ts"], testTimeout: 30_000 } },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: "engine",
          include: ["test/engine/**/*.test.ts"],
          testTimeout: 900_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});

import { expect } from "vitest";
import { PolicyError } from "../../components/core/errors";

/** The PolicyError `fn` throws; fails the test when it throws nothing or something else. */
export function errorOf(fn: () => unknown): PolicyError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PolicyError) return err;
    throw err;
  }
  throw new Error("expected a PolicyError, nothing was thrown");
}

/** Asserts `fn` throws a PolicyError whose message names `field`, shows `value` and gives a fix containing `fix`. */
export function expectPolicyError(fn: () => unknown, field: string, value: string, fix: string): PolicyError {
  const err = errorOf(fn);
  expect(err.field).toBe(field);
  expect(err.message.startsWith(`${field}: `)).toBe(true);
  expect(err.message).toContain(value);
  expect(err.message).toContain(`Fix: ${err.fix}`);
  expect(err.fix).toContain(fix);
  return err;
}

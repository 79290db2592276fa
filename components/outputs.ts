/** Helpers for the components' Outputs: whether an input is known now, computing from inputs, outputs made on first use. */
import * as pulumi from "@pulumi/pulumi";

/**
 * True when `value` holds no Output or Promise anywhere inside, i.e. it is known now. Components validate such
 * inputs in the constructor, so a bad value fails `pulumi preview` with a clear message instead of surfacing
 * later from inside an `apply`.
 */
export function isKnown(value: unknown): boolean {
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return false;
  if (Array.isArray(value)) return value.every(isKnown);
  if (typeof value === "object" && value !== null) return Object.values(value).every(isKnown);
  return true;
}

/**
 * Runs `compute` on the resolved inputs. When every input is already known it runs right away, so its errors
 * are thrown from the constructor; otherwise it runs inside `apply` once the inputs resolve.
 */
export function computeOutput<I, O>(inputs: I, compute: (resolved: pulumi.Unwrap<I>) => O): pulumi.Output<O> {
  if (isKnown(inputs)) {
    const result = compute(inputs as pulumi.Unwrap<I>);
    return pulumi.output(inputs).apply(() => result) as pulumi.Output<O>;
  }
  return pulumi.output(inputs).apply((resolved) => compute(resolved as pulumi.Unwrap<I>)) as pulumi.Output<O>;
}

/**
 * Outputs made on first use, then kept. A fleet of node groups reads one or two outputs of each component, and
 * every Output costs the SDK promise bookkeeping, so components make the rarely read ones on demand.
 */
export class OutputsOnDemand {
  private readonly made = new Map<string, pulumi.Output<unknown>>();

  get<T>(key: string, make: () => pulumi.Output<T>): pulumi.Output<T> {
    if (!this.made.has(key)) this.made.set(key, make());
    return this.made.get(key) as pulumi.Output<T>;
  }
}

// Forms from the OpenAPI document's JSON schemas (the TestFlowRequest alternatives) and the
// checks the schema states: type, enum, pattern, length, minimum/maximum (OpenAPI 3.0 boolean
// exclusiveMinimum/exclusiveMaximum and the 3.1 numeric form).

export interface Schema {
  $ref?: string;
  type?: string;
  title?: string;
  description?: string;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean | number;
  exclusiveMaximum?: boolean | number;
  default?: unknown;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  not?: Schema;
  additionalProperties?: boolean | Schema;
}

export type OpenApi = { components?: { schemas?: Record<string, Schema> } };

// The schema a $ref (#/components/schemas/X) names, followed until it is no reference; allOf
// parts are merged (the constraints of each are kept, later ones win on conflicts).
export function resolve(doc: OpenApi, s: Schema | undefined, depth = 0): Schema {
  if (!s || depth > 20) return {};
  if (s.$ref) {
    const m = /^#\/components\/schemas\/(.+)$/.exec(s.$ref);
    const target = m ? doc.components?.schemas?.[decodeURIComponent(m[1])] : undefined;
    const rest: Schema = { ...s };
    delete rest.$ref;
    return { ...resolve(doc, target, depth + 1), ...rest };
  }
  if (s.allOf) {
    let out: Schema = {};
    for (const part of s.allOf) out = { ...out, ...resolve(doc, part, depth + 1) };
    const rest: Schema = { ...s };
    delete rest.allOf;
    return { ...out, ...rest };
  }
  return s;
}

// The alternatives of a oneOf (or anyOf), each resolved.
export function alternatives(doc: OpenApi, s: Schema | undefined): Schema[] {
  const r = resolve(doc, s);
  return (r.oneOf ?? r.anyOf ?? [r]).map((a) => resolve(doc, a));
}

// What kind of input a schema takes.
export type InputKind = "integer" | "number" | "boolean" | "enum" | "array" | "any" | "string";

export function inputKind(s: Schema): InputKind {
  if (s.enum) return "enum";
  if (s.oneOf || s.anyOf) return "any";
  switch (s.type) {
    case "integer":
      return "integer";
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "array":
      return "array";
    case "string":
      return "string";
    default:
      return "any";
  }
}

// The value a text input's content stands for under the schema, or an error. An empty string
// is `undefined` (the field is left out).
export function parseInput(doc: OpenApi, s: Schema, text: string): { value?: unknown; error?: string } {
  const t = text.trim();
  if (t === "") return {};
  switch (inputKind(s)) {
    case "integer": {
      if (!/^-?\d+$/.test(t)) return { error: "must be an integer" };
      return { value: Number(t) };
    }
    case "number": {
      const n = Number(t);
      if (!Number.isFinite(n)) return { error: "must be a number" };
      return { value: n };
    }
    case "boolean":
      if (t === "true") return { value: true };
      if (t === "false") return { value: false };
      return { error: "must be true or false" };
    case "array": {
      const items = resolve(doc, s.items);
      const out: unknown[] = [];
      for (const part of t.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
        const r = parseInput(doc, items, part);
        if (r.error) return { error: `item '${part}': ${r.error}` };
        out.push(r.value);
      }
      return { value: out };
    }
    case "enum": {
      const hit = s.enum?.find((e) => String(e) === t);
      return hit === undefined ? { error: `must be one of ${s.enum?.join(", ")}` } : { value: hit };
    }
    case "any": {
      if (t === "true" || t === "false") return { value: t === "true" };
      if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) return { value: Number(t) };
      return { value: text };
    }
    default:
      return { value: text };
  }
}

// The first way `v` breaks the schema, or null.
export function check(doc: OpenApi, schema: Schema | undefined, v: unknown): string | null {
  const s = resolve(doc, schema);
  if (s.oneOf || s.anyOf) {
    const alts = (s.oneOf ?? s.anyOf)!;
    const errs = alts.map((a) => check(doc, a, v));
    if (errs.some((e) => e === null)) return null;
    return errs[0] ?? "matches no alternative";
  }
  if (s.not && check(doc, s.not, v) === null) return "is a reserved value";
  if (s.enum && !s.enum.some((e) => e === v)) return `must be one of ${s.enum.map(String).join(", ")}`;
  switch (s.type) {
    case "string": {
      if (typeof v !== "string") return "must be a string";
      if (s.minLength !== undefined && v.length < s.minLength) return `must have at least ${s.minLength} characters`;
      if (s.maxLength !== undefined && v.length > s.maxLength) return `must have at most ${s.maxLength} characters`;
      if (s.pattern) {
        let re: RegExp | null = null;
        try {
          re = new RegExp(s.pattern, "u");
        } catch {
          try {
            re = new RegExp(s.pattern);
          } catch {
            re = null; // a pattern JavaScript cannot read: the server checks it
          }
        }
        if (re && !re.test(v)) return `does not match ${s.pattern}`;
      }
      return null;
    }
    case "integer":
    case "number": {
      if (typeof v !== "number" || !Number.isFinite(v)) return `must be ${s.type === "integer" ? "an integer" : "a number"}`;
      if (s.type === "integer" && !Number.isInteger(v)) return "must be an integer";
      if (s.minimum !== undefined) {
        if (s.exclusiveMinimum === true ? v <= s.minimum : v < s.minimum)
          return s.exclusiveMinimum === true ? `must be above ${s.minimum}` : `must be at least ${s.minimum}`;
      }
      if (typeof s.exclusiveMinimum === "number" && v <= s.exclusiveMinimum) return `must be above ${s.exclusiveMinimum}`;
      if (s.maximum !== undefined) {
        if (s.exclusiveMaximum === true ? v >= s.maximum : v > s.maximum)
          return s.exclusiveMaximum === true ? `must be below ${s.maximum}` : `must be at most ${s.maximum}`;
      }
      if (typeof s.exclusiveMaximum === "number" && v >= s.exclusiveMaximum) return `must be below ${s.exclusiveMaximum}`;
      return null;
    }
    case "boolean":
      return typeof v === "boolean" ? null : "must be true or false";
    case "array": {
      if (!Array.isArray(v)) return "must be a list";
      if (s.minItems !== undefined && v.length < s.minItems) return `must have at least ${s.minItems} items`;
      if (s.maxItems !== undefined && v.length > s.maxItems) return `must have at most ${s.maxItems} items`;
      for (let i = 0; i < v.length; i++) {
        const e = check(doc, s.items, v[i]);
        if (e) return `item ${i + 1} ${e}`;
      }
      return null;
    }
    case "object": {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return "must be an object";
      return null;
    }
    default:
      return null;
  }
}

// A short text of a schema's constraints for the form's hints.
export function describe(s: Schema): string {
  const parts: string[] = [];
  if (s.type) parts.push(s.type);
  const lo = s.minimum ?? (typeof s.exclusiveMinimum === "number" ? s.exclusiveMinimum : undefined);
  const hi = s.maximum ?? (typeof s.exclusiveMaximum === "number" ? s.exclusiveMaximum : undefined);
  if (lo !== undefined || hi !== undefined) {
    const loEx = s.exclusiveMinimum === true || typeof s.exclusiveMinimum === "number";
    const hiEx = s.exclusiveMaximum === true || typeof s.exclusiveMaximum === "number";
    parts.push(`${lo === undefined ? "(" : (loEx ? "(" : "[") + lo}, ${hi === undefined ? ")" : hi + (hiEx ? ")" : "]")}`);
  }
  if (s.pattern && s.pattern.length <= 40) parts.push(s.pattern);
  return parts.join(" ");
}

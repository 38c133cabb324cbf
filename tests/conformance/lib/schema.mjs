// Run-time validation against the reference's own OpenAPI 3.1 document (opencode 1.18.33).
//
// OpenAPI 3.1 schemas are JSON Schema 2020-12, so Ajv's 2020 build checks them as they are. The
// document's `components` are registered once under an absolute id; each schema we check is a deep
// copy whose local `#/components/...` references are rewritten to point there, so all compiled
// validators share one compiled copy of the (large) component set.

import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";

const DOC_ID = "https://opencode.ai/reference-1.18.33/openapi.json";

export class Reference {
  constructor(path) {
    this.doc = JSON.parse(readFileSync(path, "utf8"));
    // strict: false because the document carries OpenAPI-only keywords (e.g. `example`);
    // `binary` is the only format it uses and it constrains nothing in JSON.
    this.ajv = new Ajv2020({ strict: false, allErrors: true, formats: { binary: true } });
    this.ajv.addSchema({ $id: DOC_ID, components: this.doc.components });
    this.cache = new Map();
  }

  /** The JSON response schema of `method path` for `status`, from the reference's `paths`. */
  responseSchema(method, path, status = 200) {
    const op = this.doc.paths[path]?.[method.toLowerCase()];
    if (!op) throw new Error(`the reference has no ${method.toUpperCase()} ${path}`);
    const response = op.responses?.[String(status)];
    if (!response) throw new Error(`the reference has no ${status} answer for ${method.toUpperCase()} ${path}`);
    const content = response.content?.["application/json"] ?? response.content?.["text/event-stream"];
    if (!content) {
      throw new Error(`the reference's ${status} answer for ${method.toUpperCase()} ${path} has no body`);
    }
    return content.schema;
  }

  compile(key, schema) {
    let validate = this.cache.get(key);
    if (!validate) {
      validate = this.ajv.compile({ $id: `urn:wakeful:conformance:${this.cache.size}`, ...rebase(schema) });
      this.cache.set(key, validate);
    }
    return validate;
  }

  /** Compile the validators of these `[method, path, status?]` answers and `components` up front: a
   * compilation blocks the event loop, which must not happen while timeouts are being measured. */
  warm(responses, components = []) {
    for (const [method, path, status = 200] of responses) {
      this.compile(`${method.toUpperCase()} ${path} ${status}`, this.responseSchema(method, path, status));
    }
    for (const name of components) this.compile(`#${name}`, { $ref: `#/components/schemas/${name}` });
  }

  /** Throw unless `data` is what the reference's `method path` answers with `status`. */
  response(method, path, data, status = 200) {
    const key = `${method.toUpperCase()} ${path} ${status}`;
    this.check(this.compile(key, this.responseSchema(method, path, status)), key, data);
    return data;
  }

  /** Throw unless `data` matches `components.schemas.<name>`. */
  component(name, data) {
    if (!this.doc.components.schemas[name]) throw new Error(`the reference has no schema ${name}`);
    this.check(this.compile(`#${name}`, { $ref: `#/components/schemas/${name}` }), name, data);
    return data;
  }

  check(validate, what, data) {
    if (validate(data)) return;
    const errors = validate.errors
      .slice(0, 12)
      .map((e) => `  ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)} (at ${e.schemaPath})`)
      .join("\n");
    const shown = JSON.stringify(data);
    throw new Error(
      `${what}: the answer does not match the reference schema\n${errors}\n  data: ` +
        (shown.length > 2000 ? `${shown.slice(0, 2000)}…` : shown),
    );
  }
}

function rebase(value) {
  if (Array.isArray(value)) return value.map(rebase);
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === "$ref" && typeof v === "string" && v.startsWith("#/") ? `${DOC_ID}${v}` : rebase(v);
  }
  return out;
}

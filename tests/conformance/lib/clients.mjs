// One small facade over the two entry points of @opencode-ai/sdk 1.18.33, so that the same scenario
// drives both: `@opencode-ai/sdk` (v1: `{ path: { id }, body }`) and `@opencode-ai/sdk/v2` (flat
// arguments, options second). Every call is made with `throwOnError: true`, so an error answer
// throws instead of passing as an empty result; each returns the SDK's `{ data, response }`.

import * as v1 from "@opencode-ai/sdk";
import * as v2 from "@opencode-ai/sdk/v2";

const STRICT = { throwOnError: true };

export function makeClient(entry, { baseUrl, directory, fetch }) {
  const config = { baseUrl, directory, ...(fetch ? { fetch } : {}) };
  if (entry === "v1") return new V1(v1.createOpencodeClient(config));
  if (entry === "v2") return new V2(v2.createOpencodeClient(config));
  throw new Error(`unknown SDK entry point ${entry}`);
}

class V1 {
  constructor(sdk) {
    this.sdk = sdk;
    this.entry = "v1";
  }
  configGet() {
    return this.sdk.config.get({ ...STRICT });
  }
  configProviders() {
    return this.sdk.config.providers({ ...STRICT });
  }
  agents() {
    return this.sdk.app.agents({ ...STRICT });
  }
  commands() {
    return this.sdk.command.list({ ...STRICT });
  }
  mcpStatus() {
    return this.sdk.mcp.status({ ...STRICT });
  }
  subscribe(options) {
    return this.sdk.event.subscribe({ ...STRICT, ...options });
  }
  create(body) {
    return this.sdk.session.create({ body, ...STRICT });
  }
  list() {
    return this.sdk.session.list({ ...STRICT });
  }
  status() {
    return this.sdk.session.status({ ...STRICT });
  }
  get(id) {
    return this.sdk.session.get({ path: { id }, ...STRICT });
  }
  update(id, body) {
    return this.sdk.session.update({ path: { id }, body, ...STRICT });
  }
  prompt(id, body) {
    return this.sdk.session.prompt({ path: { id }, body, ...STRICT });
  }
  promptAsync(id, body) {
    return this.sdk.session.promptAsync({ path: { id }, body, ...STRICT });
  }
  messages(id) {
    return this.sdk.session.messages({ path: { id }, ...STRICT });
  }
  message(id, messageID) {
    return this.sdk.session.message({ path: { id, messageID }, ...STRICT });
  }
  command(id, body) {
    return this.sdk.session.command({ path: { id }, body, ...STRICT });
  }
  shell(id, body) {
    return this.sdk.session.shell({ path: { id }, body, ...STRICT });
  }
  abort(id) {
    return this.sdk.session.abort({ path: { id }, ...STRICT });
  }
  delete(id) {
    return this.sdk.session.delete({ path: { id }, ...STRICT });
  }
  children(id) {
    return this.sdk.session.children({ path: { id }, ...STRICT });
  }
  toolIds() {
    return this.sdk.tool.ids({ ...STRICT });
  }
  toolList(provider, model) {
    return this.sdk.tool.list({ query: { provider, model }, ...STRICT });
  }
  // v1 has no permission.list; it answers a request through the older session route.
  permissionReply(id, permissionID, reply) {
    return this.sdk.postSessionIdPermissionsPermissionId({
      path: { id, permissionID },
      body: { response: reply },
      ...STRICT,
    });
  }
  get permissionReplyRoute() {
    return ["post", "/session/{sessionID}/permissions/{permissionID}"];
  }
}

class V2 {
  constructor(sdk) {
    this.sdk = sdk;
    this.entry = "v2";
  }
  configGet() {
    return this.sdk.config.get({}, STRICT);
  }
  configProviders() {
    return this.sdk.config.providers({}, STRICT);
  }
  agents() {
    return this.sdk.app.agents({}, STRICT);
  }
  commands() {
    return this.sdk.command.list({}, STRICT);
  }
  mcpStatus() {
    return this.sdk.mcp.status({}, STRICT);
  }
  subscribe(options) {
    return this.sdk.event.subscribe({}, { ...STRICT, ...options });
  }
  create(body) {
    return this.sdk.session.create({ ...body }, STRICT);
  }
  list() {
    return this.sdk.session.list({}, STRICT);
  }
  status() {
    return this.sdk.session.status({}, STRICT);
  }
  get(sessionID) {
    return this.sdk.session.get({ sessionID }, STRICT);
  }
  update(sessionID, body) {
    return this.sdk.session.update({ sessionID, ...body }, STRICT);
  }
  prompt(sessionID, body) {
    return this.sdk.session.prompt({ sessionID, ...body }, STRICT);
  }
  promptAsync(sessionID, body) {
    return this.sdk.session.promptAsync({ sessionID, ...body }, STRICT);
  }
  messages(sessionID) {
    return this.sdk.session.messages({ sessionID }, STRICT);
  }
  message(sessionID, messageID) {
    return this.sdk.session.message({ sessionID, messageID }, STRICT);
  }
  command(sessionID, body) {
    return this.sdk.session.command({ sessionID, ...body }, STRICT);
  }
  shell(sessionID, body) {
    return this.sdk.session.shell({ sessionID, ...body }, STRICT);
  }
  abort(sessionID) {
    return this.sdk.session.abort({ sessionID }, STRICT);
  }
  delete(sessionID) {
    return this.sdk.session.delete({ sessionID }, STRICT);
  }
  children(sessionID) {
    return this.sdk.session.children({ sessionID }, STRICT);
  }
  toolIds() {
    return this.sdk.tool.ids({}, STRICT);
  }
  toolList(provider, model) {
    return this.sdk.tool.list({ provider, model }, STRICT);
  }
  permissionList() {
    return this.sdk.permission.list({}, STRICT);
  }
  permissionReply(sessionID, requestID, reply) {
    return this.sdk.permission.reply({ requestID, reply }, STRICT);
  }
  get permissionReplyRoute() {
    return ["post", "/permission/{requestID}/reply"];
  }
}

// The conformance scenario: opencode's own JavaScript SDK (@opencode-ai/sdk 1.18.33) against a
// running wakeful server, every answer validated against the reference's OpenAPI document.
//
// Driven by tests/conformance/test_sdk.py, which starts the server and the scripted LLM. Run by hand:
//   WAKEFUL_URL=http://127.0.0.1:4096 FAKE_LLM_URL=http://127.0.0.1:8765 PROJECT_DIR=/path \
//   SDK_ENTRY=v2 SUITE_MODE=short-timeouts node tests/conformance/suite.mjs
//
// SDK_ENTRY     v1: `@opencode-ai/sdk` ({ path, body }); v2: `@opencode-ai/sdk/v2` (flat arguments)
// SUITE_MODE    plain: the SDK's default fetch; short-timeouts: every SDK call goes through a fetch
//               whose header and body timeouts are SHORT_TIMEOUT_MS, and one extra prompt lasts
//               LONG_CALL_SECONDS (several times longer) and must still succeed (v1 opens its
//               event stream with the global fetch whatever it is given; v2 uses the given one)
// FAKE_LLM_URL  the scripted LLM's base URL (its /_control routes); its prompts are scripts
// Exit status 0 only if every step passed.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

import { makeClient } from "./lib/clients.mjs";
import { EventLog } from "./lib/events.mjs";
import { errorCode, shortTimeoutFetch } from "./lib/fetch.mjs";
import { Reference } from "./lib/schema.mjs";

const env = {
  url: required("WAKEFUL_URL"),
  llm: required("FAKE_LLM_URL").replace(/\/+$/, ""),
  directory: required("PROJECT_DIR"),
  entry: process.env.SDK_ENTRY ?? "v2",
  mode: process.env.SUITE_MODE ?? "plain",
  timeoutMs: Number(process.env.SHORT_TIMEOUT_MS ?? 3000),
  longSeconds: Number(process.env.LONG_CALL_SECONDS ?? 10),
  tag: process.env.RUN_TAG ?? `${process.env.SDK_ENTRY ?? "v2"}-${process.pid}`,
  openapi:
    process.env.OPENAPI ?? fileURLToPath(new URL("../data/opencode-openapi-1.18.33.json", import.meta.url)),
};
const SUITE_LIMIT_MS = Number(process.env.SUITE_LIMIT_MS ?? 50000);

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
}

const log = (line) => console.log(`[${env.entry} ${env.mode}] ${line}`);
const held = new Set(); // HOLD keys this run may leave parked; released on the way out

async function step(name, fn) {
  const started = performance.now();
  try {
    const value = await fn();
    log(`ok   ${name} (${Math.round(performance.now() - started)} ms)`);
    return value;
  } catch (error) {
    log(`FAIL ${name} (${Math.round(performance.now() - started)} ms)`);
    throw error;
  }
}

// --- the scripted LLM's control routes --------------------------------------------------------------

async function control(method, path) {
  const response = await fetch(`${env.llm}/_control/${path}`, { method });
  const body = await response.json();
  if (!response.ok) throw new Error(`fake LLM ${method} ${path}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}
const waitForHold = (key) => control("GET", `wait_for_hold/${encodeURIComponent(key)}?timeout=15`);
const release = (key) => control("POST", `release/${encodeURIComponent(key)}`);

// --- helpers ------------------------------------------------------------------------------------------

const text = (value, messageID) => ({
  ...(messageID ? { messageID } : {}),
  parts: [{ type: "text", text: value }],
});

// A client-chosen message id, as opencode's clients make them: "msg_", 12 hex digits of
// (milliseconds * 4096 + counter) mod 2^48, 14 random base62 characters.
let idClock = { ms: 0, counter: 0 };
function newMessageID() {
  const now = Date.now();
  idClock = now === idClock.ms ? { ms: now, counter: idClock.counter + 1 } : { ms: now, counter: 1 };
  const value = (BigInt(now) * 4096n + BigInt(idClock.counter)) & ((1n << 48n) - 1n);
  const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const suffix = Array.from({ length: 14 }, () => base62[Math.floor(Math.random() * 62)]).join("");
  return `msg_${value.toString(16).padStart(12, "0")}${suffix}`;
}

/** Wait until the run of the prompt `messageID` has ended (its assistant message is completed) and
 * the session then went idle, as seen on the event stream. */
async function runEnded(events, sessionID, messageID) {
  const done = await events.waitFor(
    `the completed reply to ${messageID}`,
    (e) =>
      e.type === "message.updated" &&
      e.properties.info.role === "assistant" &&
      e.properties.info.parentID === messageID &&
      e.properties.info.time.completed !== undefined,
  );
  return events.waitFor(
    `session.idle after the run of ${messageID}`,
    (e) => e.type === "session.idle" && e.properties.sessionID === sessionID,
    { from: events.events.indexOf(done) + 1 },
  );
}
const textOf = (parts) =>
  parts
    .filter((p) => p.type === "text")
    .map((p) => p.text)
    .join("");

function assertReply(reply, sessionID) {
  assert.equal(reply.info.role, "assistant");
  assert.equal(reply.info.sessionID, sessionID);
  assert.equal(reply.info.error, undefined, `the run failed: ${JSON.stringify(reply.info.error)}`);
  assert.ok(reply.parts.every((p) => p.messageID === reply.info.id && p.sessionID === sessionID));
}

/** A call the suite expects to fail: the SDK (throwOnError) must throw an Error whose cause carries
 * the HTTP status and the parsed error body. */
async function rejects(promise) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error, `the SDK threw a non-Error: ${error}`);
    return error;
  }
  throw new Error("the call succeeded; expected an error");
}

// --- the scenario -------------------------------------------------------------------------------------

// Every answer the scenario validates ([method, path, status]), compiled before anything is timed.
const CHECKED_ANSWERS = [
  ["get", "/config"],
  ["get", "/config/providers"],
  ["get", "/agent"],
  ["get", "/command"],
  ["get", "/mcp"],
  ["post", "/session"],
  ["get", "/session"],
  ["get", "/session/status"],
  ["get", "/session/{sessionID}"],
  ["get", "/session/{sessionID}", 404],
  ["patch", "/session/{sessionID}"],
  ["delete", "/session/{sessionID}"],
  ["post", "/session/{sessionID}/message"],
  ["get", "/session/{sessionID}/message"],
  ["get", "/session/{sessionID}/message/{messageID}"],
  ["post", "/session/{sessionID}/command"],
  ["post", "/session/{sessionID}/shell"],
  ["post", "/session/{sessionID}/abort"],
  ["get", "/session/{sessionID}/children"],
  ["get", "/experimental/tool/ids"],
  ["get", "/experimental/tool"],
  ["get", "/permission"],
  ["post", "/permission/{requestID}/reply"],
  ["post", "/session/{sessionID}/permissions/{permissionID}"],
];

async function main() {
  const ref = await step("load the reference OpenAPI document and compile its validators", () => {
    const reference = new Reference(env.openapi);
    reference.warm(CHECKED_ANSWERS, ["Event", "NotFoundError"]);
    return reference;
  });
  if (!["plain", "short-timeouts"].includes(env.mode)) throw new Error(`unknown SUITE_MODE ${env.mode}`);
  const timeoutFetch = env.mode === "short-timeouts" ? shortTimeoutFetch(env.timeoutMs) : undefined;
  const client = makeClient(env.entry, { baseUrl: env.url, directory: env.directory, fetch: timeoutFetch });

  // With short timeouts, a prompt several times longer than them runs alongside the whole scenario.
  let longCall;
  let timeoutProbe;
  if (timeoutFetch) {
    const { data: session } = await client.create({ title: `long call ${env.tag}` });
    const started = performance.now();
    longCall = client
      .prompt(session.id, text(`DELAY ${env.longSeconds}\nREPLY long call done`))
      .then((result) => ({ result, seconds: (performance.now() - started) / 1000, session }));
    longCall.catch(() => {}); // awaited below; keep an early failure from being "unhandled"
    // The control: the same fetch against a server that sends no headers for longer than the
    // timeout (as the reference does on a long /message) fails, so the success above is earned.
    timeoutProbe = timeoutFetch(
      new Request(`${env.llm}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: "mock-model",
          stream: true,
          messages: [{ role: "user", content: `DELAY ${(3 * env.timeoutMs) / 1000}\nREPLY probe` }],
        }),
      }),
    ).then(
      () => "answered",
      (error) => errorCode(error) ?? String(error),
    );
  }

  await step("config.get", async () => {
    const { data } = await client.configGet();
    ref.response("get", "/config", data);
    assert.equal(data.model, "mock/mock-model");
    assert.equal(data.provider.mock.models["mock-model"].name, "Mock Model");
  });

  await step("config.providers", async () => {
    const { data } = await client.configProviders();
    ref.response("get", "/config/providers", data);
    const mock = data.providers.find((p) => p.id === "mock");
    assert.ok(mock, `no provider mock in ${data.providers.map((p) => p.id)}`);
    assert.equal(mock.models["mock-model"].id, "mock-model");
    assert.equal(data.default.mock, "mock-model");
  });

  await step("app.agents", async () => {
    const { data } = await client.agents();
    ref.response("get", "/agent", data);
    const build = data.find((a) => a.name === "build");
    assert.ok(build, `no build agent in ${data.map((a) => a.name)}`);
    assert.equal(build.mode, "primary");
  });

  await step("command.list", async () => {
    const { data } = await client.commands();
    ref.response("get", "/command", data);
    assert.ok(data.some((c) => c.name === "init"), `no init command in ${data.map((c) => c.name)}`);
  });

  await step("mcp.status: a disabled and a failed server", async () => {
    const { data } = await client.mcpStatus();
    ref.response("get", "/mcp", data);
    assert.deepEqual(data.tickets, { status: "disabled" });
    assert.equal(data.broken.status, "failed");
    assert.match(data.broken.error, /not an executable file/);
  });

  const streamAbort = new AbortController();
  const events = await step("event.subscribe: server.connected first", async () => {
    const { stream } = await client.subscribe({
      signal: streamAbort.signal,
      sseMaxRetryAttempts: 1, // a dropped stream must fail the suite, not reconnect quietly
    });
    const eventLog = new EventLog(ref, stream, streamAbort);
    const first = await eventLog.waitFor("server.connected", () => true, { timeoutMs: 10000 });
    assert.equal(first.type, "server.connected");
    return eventLog;
  });

  const title = `conformance ${env.tag}`;
  const session = await step("session.create", async () => {
    const { data } = await client.create({ title });
    ref.response("post", "/session", data);
    assert.equal(data.title, title);
    assert.equal(data.directory, env.directory);
    const created = (e) => e.type === "session.created" && e.properties.info.id === data.id;
    await events.waitFor("session.created", created);
    return data;
  });
  const sid = session.id;

  await step("session.list", async () => {
    const { data } = await client.list();
    ref.response("get", "/session", data);
    assert.ok(data.some((s) => s.id === sid), "the new session is not listed");
  });

  await step("session.get", async () => {
    const { data } = await client.get(sid);
    ref.response("get", "/session/{sessionID}", data);
    assert.deepEqual(data, session);
  });

  await step("session.update", async () => {
    const { data } = await client.update(sid, { title: `${title} renamed` });
    ref.response("patch", "/session/{sessionID}", data);
    assert.equal(data.title, `${title} renamed`);
    const { data: again } = await client.get(sid);
    assert.equal(again.title, `${title} renamed`);
  });

  const hello = await step("session.prompt: text reply (client-chosen messageID)", async () => {
    const messageID = newMessageID();
    const { data } = await client.prompt(sid, text("REPLY hello", messageID));
    ref.response("post", "/session/{sessionID}/message", data);
    assertReply(data, sid);
    assert.equal(data.info.parentID, messageID);
    assert.equal(textOf(data.parts), "hello");
    assert.equal(data.info.finish, "stop");
    return data;
  });

  const toolReply = await step("session.prompt: bash tool call", async () => {
    const { data } = await client.prompt(sid, text('TOOL bash {"command":"echo conformance"}'));
    ref.response("post", "/session/{sessionID}/message", data);
    assertReply(data, sid);
    assert.match(textOf(data.parts), /TOOL_RESULT_SEEN: conformance/);
    return data;
  });

  await step("session.messages", async () => {
    const { data } = await client.messages(sid);
    ref.response("get", "/session/{sessionID}/message", data);
    const users = data.filter((m) => m.info.role === "user");
    assert.deepEqual(
      users.map((m) => textOf(m.parts)),
      ["REPLY hello", 'TOOL bash {"command":"echo conformance"}'],
    );
    assert.equal(hello.info.parentID, users[0].info.id);
    assert.equal(toolReply.info.parentID, users[1].info.id);
    const tools = data.flatMap((m) => m.parts).filter((p) => p.type === "tool");
    assert.equal(tools.length, 1, `tool parts: ${JSON.stringify(tools)}`);
    assert.equal(tools[0].tool, "bash");
    assert.equal(tools[0].state.status, "completed");
    assert.deepEqual(tools[0].state.input, { command: "echo conformance" });
    assert.match(tools[0].state.output, /conformance/);
    assert.equal(data.at(-1).info.id, toolReply.info.id);
  });

  await step("session.message", async () => {
    const { data } = await client.message(sid, toolReply.info.id);
    ref.response("get", "/session/{sessionID}/message/{messageID}", data);
    assert.deepEqual(data, toolReply);
  });

  await step("session.promptAsync, then session.idle on the event stream", async () => {
    const mark = events.mark;
    const messageID = newMessageID();
    const { response } = await client.promptAsync(sid, text("REPLY async done", messageID));
    assert.equal(response.status, 204);
    const idle = await runEnded(events, sid, messageID);
    const run = events.events.slice(mark, events.events.indexOf(idle) + 1);
    const parts = run.filter((e) => e.type === "message.part.updated" && e.properties.part.type === "text");
    assert.ok(
      parts.some((e) => e.properties.part.messageID === messageID && e.properties.part.text === "REPLY async done"),
      "no message.part.updated for the prompt's text",
    );
    assert.ok(
      run.some((e) => e.type === "message.part.delta" && e.properties.sessionID === sid),
      "no message.part.delta while the reply streamed",
    );
    const { data } = await client.messages(sid);
    ref.response("get", "/session/{sessionID}/message", data);
    const last = data.at(-1);
    assert.equal(last.info.role, "assistant");
    assert.equal(textOf(last.parts), "async done");
  });

  await step("session.command (built-in init)", async () => {
    const { data } = await client.command(sid, { command: "init", arguments: "conformance focus" });
    ref.response("post", "/session/{sessionID}/command", data);
    assertReply(data, sid);
    // The scripted LLM echoes the prompt: the command's template with $ARGUMENTS filled in.
    assert.match(textOf(data.parts), /AGENTS\.md/);
    assert.match(textOf(data.parts), /conformance focus/);
  });

  await step("session.shell", async () => {
    const { data } = await client.shell(sid, { agent: "build", command: "echo hi" });
    ref.response("post", "/session/{sessionID}/shell", data);
    assert.equal(data.info.role, "assistant");
    const tool = data.parts.find((p) => p.type === "tool");
    assert.ok(tool, `no tool part in ${JSON.stringify(data.parts)}`);
    assert.equal(tool.tool, "bash");
    assert.equal(tool.state.status, "completed");
    assert.equal(tool.state.output, "hi\n");
  });

  await step("tool.ids and tool.list", async () => {
    const { data: ids } = await client.toolIds();
    ref.response("get", "/experimental/tool/ids", ids);
    assert.ok(["bash", "task", "webfetch", "apply_patch"].every((id) => ids.includes(id)), `ids: ${ids}`);
    const { data: tools } = await client.toolList("mock", "mock-model");
    ref.response("get", "/experimental/tool", tools);
    const task = tools.find((t) => t.id === "task");
    assert.ok(task, `no task tool in ${tools.map((t) => t.id)}`);
    assert.deepEqual(task.parameters.required, ["description", "prompt", "subagent_type"]);
  });

  await step("session.prompt: a task call runs a subagent in a child session", async () => {
    const call = { description: "child work", prompt: "REPLY from the child", subagent_type: "general" };
    const { data } = await client.prompt(sid, text(`TOOL task ${JSON.stringify(call)}`));
    ref.response("post", "/session/{sessionID}/message", data);
    assertReply(data, sid);
    assert.match(textOf(data.parts), /^TOOL_RESULT_SEEN: from the child/);
    const { data: children } = await client.children(sid);
    ref.response("get", "/session/{sessionID}/children", children);
    assert.equal(children.length, 1, JSON.stringify(children));
    const child = children[0];
    assert.equal(child.parentID, sid);
    assert.equal(child.title, "child work (@general subagent)");
    const { data: again } = await client.get(child.id);
    ref.response("get", "/session/{sessionID}", again);
    assert.deepEqual(again, child);
    const { data: childMessages } = await client.messages(child.id);
    ref.response("get", "/session/{sessionID}/message", childMessages);
    assert.equal(textOf(childMessages.at(-1).parts), "from the child");
    const { data: parentMessages } = await client.messages(sid);
    const task = parentMessages.flatMap((m) => m.parts).find((p) => p.type === "tool" && p.tool === "task");
    assert.equal(task.state.status, "completed");
    assert.equal(task.state.metadata.sessionId, child.id);
    assert.match(task.state.output, /^from the child/);
  });

  await step("session.abort of a held prompt; session.status while busy", async () => {
    const key = `abort-${env.tag}`;
    held.add(key);
    const messageID = newMessageID();
    const pending = client.prompt(sid, text(`HOLD ${key}\nREPLY never finished`, messageID));
    pending.catch(() => {});
    await waitForHold(key);
    const { data: status } = await client.status();
    ref.response("get", "/session/status", status);
    assert.deepEqual(status[sid], { type: "busy" });
    const { data: aborted } = await client.abort(sid);
    ref.response("post", "/session/{sessionID}/abort", aborted);
    assert.equal(aborted, true);
    const { data: reply } = await pending;
    ref.response("post", "/session/{sessionID}/message", reply);
    assert.equal(reply.info.error?.name, "MessageAbortedError", JSON.stringify(reply.info));
    assert.equal(reply.info.parentID, messageID);
    await release(key);
    held.delete(key);
    await runEnded(events, sid, messageID);
    const { data: after } = await client.status();
    ref.response("get", "/session/status", after);
    assert.equal(after[sid], undefined, `still ${JSON.stringify(after[sid])} after the abort`);
  });

  await step("permission: a session rule asks; permission.asked, list, reply, permission.replied", async () => {
    const rule = { permission: "bash", pattern: "echo asked*", action: "ask" };
    const { data: asking } = await client.create({ title: `ask ${env.tag}`, permission: [rule] });
    ref.response("post", "/session", asking);
    assert.deepEqual(asking.permission, [rule]);
    const mark = events.mark;
    const messageID = newMessageID();
    await client.promptAsync(asking.id, text('TOOL bash {"command":"echo asked by the suite"}', messageID));
    const asked = await events.waitFor(
      "permission.asked",
      (e) => e.type === "permission.asked" && e.properties.sessionID === asking.id,
      { from: mark },
    );
    assert.deepEqual(asked.properties.patterns, ["echo asked by the suite"]);
    if (client.permissionList) {
      const { data: pending } = await client.permissionList();
      ref.response("get", "/permission", pending);
      assert.deepEqual(
        pending.filter((p) => p.sessionID === asking.id),
        [asked.properties],
      );
    }
    const { data: answered } = await client.permissionReply(asking.id, asked.properties.id, "once");
    ref.response(...client.permissionReplyRoute, answered);
    assert.equal(answered, true);
    const replied = await events.waitFor(
      "permission.replied",
      (e) => e.type === "permission.replied" && e.properties.requestID === asked.properties.id,
      { from: mark },
    );
    assert.deepEqual(replied.properties, { sessionID: asking.id, requestID: asked.properties.id, reply: "once" });
    await runEnded(events, asking.id, messageID);
    const { data } = await client.messages(asking.id);
    const tools = data.flatMap((m) => m.parts).filter((p) => p.type === "tool");
    assert.equal(tools[0]?.state.status, "completed", JSON.stringify(tools));
    assert.match(tools[0].state.output, /asked by the suite/);
    await client.delete(asking.id);
  });

  await step("session.delete; the session is gone (404 NotFoundError)", async () => {
    const mark = events.mark;
    const { data } = await client.delete(sid);
    ref.response("delete", "/session/{sessionID}", data);
    assert.equal(data, true);
    const error = await rejects(client.get(sid));
    assert.equal(error.cause?.status, 404, `${error.message}: ${JSON.stringify(error.cause)}`);
    ref.response("get", "/session/{sessionID}", error.cause.body, 404);
    const deleted = (e) => e.type === "session.deleted" && e.properties.sessionID === sid;
    await events.waitFor("session.deleted", deleted, { from: mark });
  });

  await step("event stream: every event matched the reference schema", async () => {
    const types = new Set(events.forSession(sid).map((e) => e.type));
    for (const type of [
      "session.created",
      "session.updated",
      "session.status",
      "session.idle",
      "session.deleted",
      "message.updated",
      "message.part.updated",
      "message.part.delta",
    ]) {
      assert.ok(types.has(type), `no ${type} event for the session: ${[...types]}`);
    }
    await events.close();
    assert.deepEqual(events.failures, []);
  });

  if (longCall) {
    await step(`a ${env.longSeconds} s prompt through ${env.timeoutMs} ms header/body timeouts`, async () => {
      const { result, seconds, session: longSession } = await longCall;
      ref.response("post", "/session/{sessionID}/message", result.data);
      assertReply(result.data, longSession.id);
      assert.equal(textOf(result.data.parts), "long call done");
      assert.ok(
        seconds * 1000 > 3 * env.timeoutMs,
        `the call took ${seconds.toFixed(1)} s: not several times the ${env.timeoutMs} ms timeouts`,
      );
      assert.equal(await timeoutProbe, "UND_ERR_HEADERS_TIMEOUT", "the short-timeout fetch is not in force");
      await client.delete(longSession.id);
    });
    await timeoutFetch.close();
  }
}

const limit = setTimeout(() => {
  log(`FAIL the suite did not finish within ${SUITE_LIMIT_MS} ms`);
  process.exit(1);
}, SUITE_LIMIT_MS);

main()
  .then(() => {
    log("all steps passed");
    process.exit(0);
  })
  .catch(async (error) => {
    console.error(error?.stack ?? error);
    if (error?.cause) console.error("cause:", JSON.stringify(error.cause, null, 2));
    for (const key of held) await release(key).catch(() => {});
    clearTimeout(limit);
    process.exit(1);
  });

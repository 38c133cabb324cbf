// Reads an SDK event stream in the background, validating every event against the reference's
// `Event` schema, and lets the scenario await the event it needs instead of sleeping.

// The reference sends `server.heartbeat` too (every 10 s) without listing it in its document; its
// shape is checked here by hand. `server.gap` is wakeful's own (replay overflow or unknown
// Last-Event-ID) and must never appear in this suite.
const UNLISTED = new Set(["server.heartbeat"]);

export class EventLog {
  constructor(reference, stream, abort) {
    this.reference = reference;
    this.abort = abort;
    this.events = [];
    this.heartbeats = 0;
    this.failures = [];
    this.waiters = new Set();
    this.closed = false;
    this.done = this.pump(stream);
  }

  async pump(stream) {
    try {
      for await (const event of stream) {
        this.accept(event);
      }
    } catch (error) {
      if (!this.abort.signal.aborted) this.failures.push(`event stream failed: ${error.stack ?? error}`);
    } finally {
      this.closed = true;
      this.notify();
    }
  }

  accept(event) {
    try {
      if (typeof event !== "object" || event === null) throw new Error(`not a JSON event: ${event}`);
      if (event.type === "server.gap") throw new Error(`unexpected server.gap: ${JSON.stringify(event)}`);
      if (UNLISTED.has(event.type)) {
        if (!/^evt_/.test(event.id) || JSON.stringify(event.properties) !== "{}") {
          throw new Error(`malformed heartbeat ${JSON.stringify(event)}`);
        }
        this.heartbeats += 1;
        return;
      }
      this.reference.component("Event", event);
    } catch (error) {
      this.failures.push(error.message);
    }
    this.events.push(event);
    this.notify();
  }

  notify() {
    for (const waiter of this.waiters) waiter();
  }

  get mark() {
    return this.events.length;
  }

  /** The first event at index >= `from` that satisfies `match`; rejects after `timeoutMs`. */
  waitFor(what, match, { from = 0, timeoutMs = 15000 } = {}) {
    return new Promise((resolve, reject) => {
      let timer;
      const check = () => {
        const found = this.events.slice(from).find(match);
        if (found) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        } else if (this.closed) {
          this.waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`event stream ended before ${what}\n${this.describe()}`));
        }
      };
      timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no ${what} within ${timeoutMs} ms\n${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  forSession(sessionID) {
    return this.events.filter((e) => e.properties?.sessionID === sessionID);
  }

  describe() {
    const tail = this.events.slice(-15).map((e) => `  ${e.type} ${e.properties?.sessionID ?? ""}`);
    return `last events (${this.events.length} in all, ${this.heartbeats} heartbeats):\n${tail.join("\n")}`;
  }

  async close() {
    this.abort.abort();
    await this.done;
  }
}

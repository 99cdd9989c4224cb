// The live feed: one WebSocket to /ws that reconnects by itself, and the jobs it has seen.
//
// Events (on the LiveFeed, an EventTarget): "job" (detail: the job, merged), "queue" (detail: the
// queue_update data), "system" (detail: the system_update data), "status" (detail: "live",
// "connecting", "reconnecting" or "offline"), "refused" (the server closed with 1008: credentials).

import { BASE, api, session } from "./api.js";

const FIRST_RETRY_MS = 1000;
// Backing off to this keeps a server that is down for minutes from being hammered by every tab.
const MAX_RETRY_MS = 15000;
const POLICY_VIOLATION = 1008;
export const FINAL_STATUSES = new Set(["completed", "failed", "cancelled"]);
export const ACTIVE_STATUSES = new Set(["queued", "processing"]);

export class LiveFeed extends EventTarget {
  constructor() {
    super();
    this.jobs = new Map();
    this.queue = { size: 0, active_generations: 0, positions: {} };
    this.status = "offline";
    this.socket = null;
    this.retryMs = FIRST_RETRY_MS;
    this.timer = null;
    this.running = false;
    this.connectedOnce = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.open();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
    this.jobs.clear();
    this.setStatus("offline");
  }

  open() {
    const target = new URL("ws", BASE);
    target.protocol = target.protocol === "https:" ? "wss:" : "ws:";
    // Browsers cannot set headers on a WebSocket: the credential travels as the subprotocol pair
    // the server understands, which keeps it out of URLs and access logs.
    let protocols = [];
    if (session.token) protocols = ["bearer", session.token];
    else if (session.apiKey) protocols = ["api-key", session.apiKey];
    this.setStatus(this.connectedOnce ? "reconnecting" : "connecting");
    const socket = new WebSocket(target, protocols);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.retryMs = FIRST_RETRY_MS;
      const again = this.connectedOnce;
      this.connectedOnce = true;
      this.setStatus("live");
      // Jobs may have finished while the connection was down; the server's snapshot covers only
      // active ones, so read the rest once.
      if (again) this.resync();
    });
    socket.addEventListener("message", (event) => this.handle(event.data));
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (!this.running) return;
      if (event.code === POLICY_VIOLATION) {
        this.running = false;
        this.setStatus("offline");
        this.dispatchEvent(new CustomEvent("refused", { detail: event.reason }));
        return;
      }
      this.setStatus("reconnecting");
      // Jitter spreads the reconnects of many tabs after a server restart.
      const delay = this.retryMs * (0.75 + Math.random() / 2);
      this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
      this.timer = setTimeout(() => this.open(), delay);
    });
  }

  setStatus(status) {
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: status }));
  }

  handle(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const data = message.data || {};
    if (message.type === "job_update") {
      this.merge({ ...data, id: data.job_id });
    } else if (message.type === "queue_update") {
      this.queue = data;
      for (const job of this.jobs.values()) {
        if (job.status === "queued" && data.positions && job.id in data.positions) {
          job.position = data.positions[job.id];
        }
      }
      this.dispatchEvent(new CustomEvent("queue", { detail: data }));
    } else if (message.type === "system_update") {
      this.dispatchEvent(new CustomEvent("system", { detail: data }));
    }
  }

  /** Merges what is known of a job (a job_update, or a job from the REST API) and tells listeners. */
  merge(update) {
    const job = this.jobs.get(update.id) || { id: update.id };
    // A progress message that overtook the final status must not bring a finished job back.
    if (FINAL_STATUSES.has(job.status) && !FINAL_STATUSES.has(update.status)) return job;
    Object.assign(job, update);
    if (FINAL_STATUSES.has(job.status)) delete job.preview;
    this.jobs.set(job.id, job);
    this.dispatchEvent(new CustomEvent("job", { detail: job }));
    return job;
  }

  /** Reads the queue (active jobs and the newest finished ones) from the REST API. */
  async resync(limit = 20) {
    const reply = await api("api/queue/status", { query: { limit } });
    for (const job of reply.queue.jobs) this.merge(job);
    return reply.queue;
  }

  /** One job's full record (prompt, parameters, outputs), merged into what the feed knows. */
  async fetchJob(id) {
    return this.merge(await api(`api/queue/job/${encodeURIComponent(id)}`));
  }
}

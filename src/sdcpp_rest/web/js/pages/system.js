// The System page: server status, version, the machine (CPU, memory, disks, GPUs), the engine's
// build features and the worker processes with their model and memory.

import { api } from "../api.js";
import { formatBytes, formatSeconds, h, replace, section, toast } from "../dom.js";
import { workersTable } from "./models.js";

export class SystemPage {
  constructor(ctx) {
    this.ctx = ctx;
    this.content = h("div", { class: "cards" });
    this.el = h(
      "section",
      { class: "page page-system", "aria-labelledby": "system-title" },
      h("div", { class: "page-head" }, h("h1", { id: "system-title" }, "System"),
        h("button", { type: "button", class: "secondary", onclick: () => this.refresh() }, "Refresh system")),
      this.content,
    );
    ctx.live.addEventListener("system", () => {
      if (!this.el.hidden) this.refresh();
    });
  }

  async init() {
    await this.refresh();
  }

  async show() {
    await this.refresh();
  }

  async refresh() {
    try {
      const [status, version, system] = await Promise.all([api("api/status"), api("api/version"), api("api/system")]);
      this.render(status, version, system.system);
    } catch (error) {
      toast(error.message, "error");
    }
  }

  render(status, version, system) {
    const queue = status.generation_queue;
    const disks = Object.entries(system.disk).map(([name, disk]) => [
      `Disk (${name})`, `${formatBytes(disk.free_bytes)} free of ${formatBytes(disk.total_bytes)}`,
    ]);
    const features = Object.entries(system.engine.features).filter(([, on]) => on).map(([name]) => name);
    replace(
      this.content,
      section("Server", list([
        ["Status", status.server.running ? "running" : "stopped"],
        ["Up for", formatSeconds(status.server.uptime_seconds)],
        ["Queue", `${queue.queue_size} waiting, ${queue.active_generations} of ${queue.max_concurrent_generations} running`],
        ["Models", `${status.models.loaded_count} loaded, ${status.models.available_count} checkpoint(s)`],
        ["Server memory", formatBytes(system.server.resident_memory_bytes)],
      ])),
      section("Version", list(flatten(version))),
      section("Machine", list([
        ["CPU", `${system.cpu.model || "unknown"} (${system.cpu.usable_cores} of ${system.cpu.cores} cores usable)`],
        ["Memory", `${formatBytes(system.memory.free_bytes)} free of ${formatBytes(system.memory.total_bytes)}`],
        ...disks,
      ])),
      section("GPUs", system.gpus.length
        ? list(system.gpus.map((gpu) => [`GPU ${gpu.index}: ${gpu.name}`,
          `${formatBytes(gpu.memory_free_bytes)} free of ${formatBytes(gpu.memory_total_bytes)}`]))
        : h("p", { class: "hint" }, "No GPU found: the engine runs on the CPU.")),
      section("Engine", features.length ? h("p", {}, features.join(", "))
        : h("p", { class: "hint" }, "No report yet: it comes with the first worker.")),
      section("Workers", workersTable(system.workers)),
    );
  }
}

/** {commit: {sha, ...}} as rows "commit sha", ...: the version reply nests some of its parts. */
function flatten(object, prefix = "") {
  return Object.entries(object).flatMap(([key, value]) =>
    value && typeof value === "object" ? flatten(value, `${prefix}${key} `) : [[`${prefix}${key}`, value ?? "–"]],
  );
}

function list(rows) {
  return h("dl", { class: "params" }, rows.map(([key, value]) => [h("dt", {}, key), h("dd", {}, String(value))]));
}

// What the generate form offers, all read from the API: samplers, schedulers, parameter ranges,
// the fixed word lists of some fields, and the model files of every type.

import { api } from "./api.js";

let cached = null;

/** Loads once per sign-in; `reload` reads the models again (after a rescan). */
export async function loadVocab({ reload = false } = {}) {
  if (cached && !reload) return cached;
  const [samplers, schedulers, parameters, models] = await Promise.all([
    api("api/samplers"),
    api("api/schedulers"),
    api("api/parameters"),
    api("api/models", { query: { limit: 0, sort_by: "name" } }),
  ]);
  const byType = {};
  for (const model of models.models) {
    if (model.error) continue; // a damaged file would only fail the job
    (byType[model.type] ||= []).push(model);
  }
  cached = {
    samplers: samplers.samplers,
    defaultSampler: samplers.default,
    schedulers: schedulers.schedulers,
    defaultScheduler: schedulers.default,
    ranges: parameters.parameters,
    // Older servers answer without these lists: offer what every version accepts.
    words: { resize_mode: ["resize"], hires_upscaler: ["latent"], preview: ["none"], ...parameters.vocabularies },
    models: (type) => byType[type] || [],
  };
  return cached;
}

export function forgetVocab() {
  cached = null;
}

/** A model's name as the prompt's <lora:NAME:W> takes it: without its extension. */
export function stem(name) {
  return name.replace(/\.(safetensors|ckpt|pt|pth|bin|gguf)$/i, "");
}

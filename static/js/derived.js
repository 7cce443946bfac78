// The numbers the run form shows as you type: exact parameter count, tokens per iteration,
// a memory estimate, epochs over the data; and the one check worth making before a round trip.

/** The shapes `init_from` fixes (GPT-2's own: layers, heads, width), as nanoGPT's from_pretrained. */
export const PRETRAINED = {
  gpt2: [12, 12, 768],
  "gpt2-medium": [24, 16, 1024],
  "gpt2-large": [36, 20, 1280],
  "gpt2-xl": [48, 25, 1600],
};
export const GPT2_VOCAB = 50257;

/** The model a config trains: its own shape, or GPT-2's when it fine-tunes GPT-2. */
export function modelShape(cfg) {
  const dims = PRETRAINED[cfg.init_from];
  if (!dims) return cfg;
  const [n_layer, n_head, n_embd] = dims;
  return { ...cfg, n_layer, n_head, n_embd, bias: true };
}

/**
 * Exact parameter count of the engine's model, as torch counts them: the gpt2 arch ties its
 * embedding and head and learns positions; the modern arch has an untied head, rotary
 * positions, no biases and parameter-free norms.
 */
export function parameterCount({ n_layer: L, n_embd: C, block_size: T, bias, arch }, vocab) {
  if (arch === "modern") return 2 * vocab * C + L * 12 * C * C;
  const perLayer = 12 * C * C + 2 * C + (bias ? 11 * C : 0); // attention + MLP + two LayerNorms
  return vocab * C + T * C + L * perLayer + C + (bias ? C : 0);
}

/** nanoGPT's count: position embeddings left out (the modern arch: the embedding lookup). */
export const nanoGptCount = (cfg, vocab) =>
  parameterCount(cfg, vocab) - (cfg.arch === "modern" ? vocab : cfg.block_size) * cfg.n_embd;

export const tokensPerIteration = (cfg) => cfg.gradient_accumulation_steps * cfg.batch_size * cfg.block_size;

/**
 * Training memory, as the server's memory guard estimates it (worker/engine/config/memory_estimate.py,
 * which the form shows once a dry run answers): fp32 weights, gradients and AdamW's two
 * moments (16 bytes a parameter), one micro-batch's activations (17 values per token, channel
 * and layer after Korthikanti et al. 2022; the T×T scores where a CPU uses the math kernel;
 * the logits), times the measured slack of 1.3, and the process itself.
 */
export function memoryEstimate(cfg, params, vocab) {
  const onGpu = cfg.device.startsWith("cuda");
  const width = cfg.dtype === "float32" || (!onGpu && cfg.dtype === "auto") ? 4 : 2;
  const tokens = cfg.batch_size * cfg.block_size;
  const state = params * 16;
  let perLayer = 17 * tokens * cfg.n_embd * width;
  if (!onGpu && cfg.block_size <= 256) perLayer += 2 * cfg.batch_size * cfg.n_head * cfg.block_size ** 2 * width;
  const logits = tokens * vocab * (width + 8);
  const activations = 1.3 * (cfg.n_layer * perLayer + logits + tokens * cfg.n_embd * 4 * width);
  const runtime = (onGpu ? 600 : 320) * 2 ** 20;
  return { total: state + activations + runtime, state, activations };
}

export const epochs = (cfg, trainTokens) => (trainTokens ? (tokensPerIteration(cfg) * cfg.max_iters) / trainTokens : null);

/**
 * What is known about the data a run would use: exact once prepared with this tokenizer and
 * split, else estimated from the upload's statistics.
 */
export function dataFacts(dataset, tokenizer, valFraction) {
  if (!dataset) return { vocab: null, trainTokens: null, exact: false };
  const prep = dataset.preparations.find(
    (p) => p.tokenizer === tokenizer && Math.abs(p.val_fraction - valFraction) < 1e-9 && p.state === "ready"
  );
  if (prep) return { vocab: prep.vocab_size, trainTokens: prep.train_tokens, valTokens: prep.val_tokens, exact: true };
  // a BPE trained on the text ("bpe-2048") is not counted before it is trained: GPT-2's
  // count stands in for its length, its vocabulary is at most the size asked for
  const bpeVocab = tokenizer.startsWith("bpe-") ? Number(tokenizer.slice(4)) : null;
  const total = tokenizer === "char" ? dataset.characters : dataset.gpt2_tokens ?? Math.floor(dataset.bytes / 4);
  const val = total == null ? null : Math.floor(total * valFraction);
  return {
    vocab: tokenizer === "char" ? dataset.vocab_size : bpeVocab ?? 50257,
    trainTokens: total == null ? null : total - val,
    valTokens: val,
    exact: false,
  };
}

/**
 * What the form can tell before asking: the fields left empty (or not a number), all at once
 * and in plain words; [{field, message}]. Every other check is the server's, as you type
 * (a dry run of the request), so there is one judge and one wording.
 */
export function localProblems(cfg) {
  return Object.entries(cfg)
    .filter(([, value]) => value === null || Number.isNaN(value))
    .map(([name]) => ({ field: name, message: `${name} needs a value` }));
}

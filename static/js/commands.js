// "Copy as curl" and "Copy as CLI": the same run as a REST call and as engine commands.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shellQuote(text) {
  const s = String(text);
  return SAFE.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

export function curlCommand(origin, path, body) {
  return [
    `curl -X POST ${shellQuote(`${origin}/api/v1${path}`)}`,
    `-H "Authorization: Bearer $STUDIO_TOKEN"`,
    "-H 'Content-Type: application/json'",
    `-d ${shellQuote(JSON.stringify(body))}`,
  ].join(" \\\n  ");
}

export const slug = (text) =>
  String(text)
    .toLowerCase()
    .replace(/\.[a-z0-9]+$/, "")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60) || "run";

const cliValue = (value) => String(value);

/** `prepare` into a local folder, then `train` on it with the preset, the budget and the changed knobs. */
export function cliCommand({ inputPath, datasetName, tokenizer, valFraction, preset, overrides, runName, budget }) {
  const data = `data/${slug(datasetName)}-${tokenizer}`;
  const prepare = [
    "nanogpt-studio prepare",
    shellQuote(inputPath),
    tokenizer.startsWith("bpe-") ? `--tokenizer bpe --vocab_size ${tokenizer.slice(4)}` : `--tokenizer ${tokenizer}`,
    `--val_fraction ${valFraction}`,
    `--out ${shellQuote(data)}`,
  ].join(" ");
  const train = ["nanogpt-studio train", `--data ${shellQuote(data)}`, `--out ${shellQuote(`out/${slug(runName)}`)}`];
  if (preset) train.push(`--preset ${preset}`);
  if (budget != null) train.push(`--budget ${shellQuote(String(budget))}`);
  for (const [key, value] of Object.entries(overrides)) train.push(shellQuote(`--${key}=${cliValue(value)}`));
  return `${prepare} && \\\n${train.join(" \\\n  ")}`;
}

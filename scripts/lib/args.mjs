// The benchmarks' command line: `--name` flags and `--name value` options.
const argv = process.argv.slice(2)
export const flag = (name) => argv.includes(name)
export const option = (name) => {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}
/** An integer option (`fallback` when absent) within [min, max]; anything else exits 2, naming the option. */
export const intOption = (name, fallback, min, max) => {
  const value = Number(option(name) ?? fallback)
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`${name}: expected ${min}-${max}, got ${option(name)}`)
    process.exit(2)
  }
  return value
}

// The benchmarks' command line: `--name` flags and `--name value` options.
const argv = process.argv.slice(2)
export const flag = (name) => argv.includes(name)
export const option = (name) => {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}

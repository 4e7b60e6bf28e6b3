/*
 * The Dockerfile at the repository's root (docs/OPERATIONS.md "Running in a
 * container"). Docker is not here to build it, so its parts are checked
 * where they can be: the essentials (a Node 20 slim base, a non-root user,
 * SIGTERM, a HEALTHCHECK on /health, wemixvisor as the entrypoint), every
 * file it copies (in the context and not excluded by .dockerignore, or made
 * by the build), and the two programs it carries run for real: the health
 * check against an API that answers 200 or 503, and the node binary's
 * download against a local server.
 */
import { spawn, spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import type * as net from "node:net"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { cleanup, freePort, repoRoot, tempDir } from "../support/fixtures.js"

const dockerfile = fs.readFileSync(path.join(repoRoot, "Dockerfile"), "utf8")
const dockerignore = fs.readFileSync(path.join(repoRoot, ".dockerignore"), "utf8")

interface Instruction {
  readonly op: string
  readonly args: string
}
interface Stage {
  readonly image: string
  readonly name: string | undefined
  readonly instructions: Array<Instruction>
}

/** The stages of a Dockerfile: comment lines dropped, continuation lines joined. */
const parseDockerfile = (text: string): Array<Stage> => {
  const lines = text.split("\n").filter((l) => !/^\s*#/.test(l))
  const logical: Array<string> = []
  let pending = ""
  for (const line of lines) {
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " "
      continue
    }
    const whole = (pending + line).trim()
    pending = ""
    if (whole !== "") logical.push(whole)
  }
  const stages: Array<Stage> = []
  for (const line of logical) {
    const m = /^([A-Za-z]+)\s+([\s\S]*)$/.exec(line)
    if (!m) throw new Error(`not an instruction: ${line}`)
    const op = m[1]!.toUpperCase()
    const args = m[2]!.trim()
    if (op === "FROM") {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!
      stages.push({ image: from[1]!, name: from[2], instructions: [] })
    } else if (op !== "ARG" || stages.length > 0) {
      if (stages.length === 0) throw new Error(`${op} before FROM`)
      stages.at(-1)!.instructions.push({ op, args })
    }
  }
  return stages
}

const stages = parseDockerfile(dockerfile)

/** Runs a program to its end without blocking this process (the HTTP servers below answer it from here). */
const exec = (program: string, args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(program, args, { env, stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 })
    let stderr = ""
    child.stderr.on("data", (c) => (stderr += String(c)))
    child.on("close", (code) => resolve({ code, stderr }))
  })
const final = stages.at(-1)!
const ops = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op).map((i) => i.args)
const one = (stage: Stage, op: string): string => {
  const found = ops(stage, op)
  expect(found, `${op} in the final stage`).toHaveLength(1)
  return found[0]!
}

/** A COPY's flags and paths (the last path is the destination). */
const parseCopy = (args: string) => {
  const words = args.split(/\s+/)
  const flags = words.filter((w) => w.startsWith("--"))
  const paths = words.filter((w) => !w.startsWith("--"))
  const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length)
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! }
}

/** Whether .dockerignore excludes a context path (Docker's rules for the patterns this repo uses: names, globs with * and **, ! exceptions). */
const ignored = (file: string): boolean => {
  let out = false
  for (const raw of dockerignore.split("\n")) {
    const line = raw.trim()
    if (line === "" || line.startsWith("#")) continue
    const negate = line.startsWith("!")
    const pattern = (negate ? line.slice(1) : line).replace(/^\/+|\/+$/g, "")
    const re = new RegExp(
      "^" +
        pattern.split("**").map((part) =>
          part.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*")
        )
          .join(".*") +
        "(/.*)?$"
    )
    if (re.test(file)) out = !negate
  }
  return out
}

describe("Dockerfile", () => {
  it("builds on Node 20 slim, runs wemixvisor as a non-root user, stops with SIGTERM, entrypoint wemixvisor run", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    for (const s of stages) expect(s.image).toMatch(/^node:20(\.\d+){0,2}-bookworm-slim(@sha256:[0-9a-f]{64})?$/)

    const user = one(final, "USER")
    expect(user).not.toMatch(/^(root|0)(:|$)/)
    // The user is made in the final stage (the base image has only root and node).
    expect(ops(final, "RUN").join("\n")).toMatch(new RegExp(`useradd\\b[^&;]*\\b${user.split(":")[0]}\\b`))
    expect(one(final, "STOPSIGNAL")).toBe("SIGTERM")
    expect(JSON.parse(one(final, "ENTRYPOINT"))).toEqual(["wemixvisor"])
    expect(JSON.parse(one(final, "CMD"))).toEqual(["run"])

    // DAEMON_HOME is a volume; the binary wemixvisor is the package's bin, linked onto the PATH.
    const home = /\bDAEMON_HOME=(\S+)/.exec(ops(final, "ENV").join(" "))?.[1]
    expect(home).toBeDefined()
    expect(JSON.parse(one(final, "VOLUME"))).toContain(home)
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
      bin: Record<string, string>
    }
    const link = /ln -s (\S+) (\/usr\/local\/bin\/wemixvisor)\b/.exec(ops(final, "RUN").join("\n"))
    expect(link).not.toBeNull()
    const target = path.posix.resolve(path.posix.dirname(link![2]!), link![1]!)
    const installed = ops(final, "COPY").map(parseCopy).find((c) =>
      c.from !== undefined && target.startsWith(c.dest) && c.sources.some((s) => /\/dist\/?$/.test(s))
    )
    expect(installed, `a COPY that puts ${target} in place`).toBeDefined()
    expect(target.endsWith(`/wemixvisor/${pkg.bin.wemixvisor}`)).toBe(true)
  })

  it("copies only files that exist: from the context (not excluded by .dockerignore) or from what the build makes", () => {
    const names = new Set(stages.map((s) => s.name).filter((n) => n !== undefined))
    const copies = stages.flatMap((s) => ops(s, "COPY").map((args) => ({ stage: s, ...parseCopy(args) })))
    expect(copies.length).toBeGreaterThan(0)
    for (const c of copies) {
      expect(c.sources.length).toBeGreaterThan(0)
      if (c.from === undefined) {
        for (const src of c.sources) {
          const file = src.replace(/\/$/, "")
          expect(fs.existsSync(path.join(repoRoot, file)), `COPY ${src}: in the repository`).toBe(true)
          expect(ignored(file), `COPY ${src}: excluded by .dockerignore`).toBe(false)
        }
        continue
      }
      expect(names, `COPY --from=${c.from}: a stage of this file`).toContain(c.from)
      const from = stages.find((s) => s.name === c.from)!
      const workdir = ops(from, "WORKDIR").at(-1)
      for (const src of c.sources) {
        if (workdir !== undefined && src.startsWith(`${workdir}/`)) {
          // The build stage's tree is this checkout after `npm ci && npm run build`: dist/ and node_modules/ exist here.
          const rel = src.slice(workdir.length + 1).replace(/\/$/, "")
          expect(fs.existsSync(path.join(repoRoot, rel)), `COPY --from=${c.from} ${src}: made by that stage`).toBe(true)
        } else {
          // A path the stage itself makes.
          expect(ops(from, "RUN").join("\n"), `COPY --from=${c.from} ${src}`).toContain(src.replace(/\/$/, ""))
        }
      }
    }
    // The host's node_modules/ and dist/ never reach the build: it makes its own.
    expect(ignored("node_modules")).toBe(true)
    expect(ignored("dist")).toBe(true)
  })

  it("gives the build every file the build script reads", () => {
    const build = stages.find((s) => ops(s, "RUN").some((r) => /npm run build/.test(r)))!
    expect(build).toBeDefined()
    const copied = ops(build, "COPY").map(parseCopy).filter((c) => c.from === undefined).flatMap((c) => c.sources)
    const covered = (file: string) =>
      file.startsWith("node_modules/") ||
      copied.some((src) => file === src.replace(/\/$/, "") || (src.endsWith("/") && file.startsWith(src)))
    expect(ops(build, "RUN").join("\n")).toMatch(/npm ci\b/)
    expect(covered("package.json") && covered("package-lock.json")).toBe(true)
    const script = fs.readFileSync(path.join(repoRoot, "scripts/build.mjs"), "utf8")
    const read = [...script.matchAll(/"((?:src|scripts|contracts|node_modules|tsconfig)[\w./-]*)"/g)].map((m) => m[1]!)
    expect(read).toContain("src/bin.ts")
    expect(read).toContain("tsconfig.types.json")
    for (const file of ["scripts/build.mjs", "tsconfig.json", ...read]) expect(covered(file), file).toBe(true)
  })

  describe("HEALTHCHECK", () => {
    const servers: Array<http.Server> = []
    afterEach(() => {
      for (const s of servers.splice(0)) s.close()
    })
    const api = async (status: number, host = "127.0.0.1") => {
      const paths: Array<string> = []
      const server = http.createServer((req, res) => {
        paths.push(req.url ?? "")
        res.writeHead(req.url === "/health" ? status : 404, { "content-type": "application/json" }).end("{}")
      })
      servers.push(server)
      await new Promise<void>((resolve) => server.listen(0, host, resolve))
      return { port: (server.address() as net.AddressInfo).port, paths }
    }
    const healthcheck = one(final, "HEALTHCHECK")
    const probe = (env: Record<string, string>) => {
      const m = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/.exec(healthcheck)
      expect(m, "HEALTHCHECK [options] CMD [\"exec\", \"form\"]").not.toBeNull()
      const [program, ...args] = JSON.parse(m![1]!) as Array<string>
      // Node is in the image; curl and wget are not.
      expect(program).toBe("node")
      return exec(process.execPath, args, { PATH: process.env.PATH ?? "", ...env }).then((r) => r.code)
    }

    it("is healthy on /health 200, unhealthy on 503 or when nothing answers", async () => {
      const ok = await api(200)
      expect(await probe({ WEMIXVISOR_API_ADDR: `127.0.0.1:${ok.port}` })).toBe(0)
      expect(ok.paths).toEqual(["/health"])
      const down = await api(503)
      expect(await probe({ WEMIXVISOR_API_ADDR: `127.0.0.1:${down.port}` })).toBe(1)
      expect(await probe({ WEMIXVISOR_API_ADDR: `127.0.0.1:${await freePort()}` })).toBe(1)
      // An API listening on every address is asked on loopback.
      const all = await api(200, "0.0.0.0")
      expect(await probe({ WEMIXVISOR_API_ADDR: `0.0.0.0:${all.port}` })).toBe(0)
      expect(healthcheck).toMatch(/--start-period=\S+/)
    })

    it("asks the default address when WEMIXVISOR_API_ADDR is unset", () => {
      expect(healthcheck).toContain("'127.0.0.1:8590'")
    })
  })

  describe("the node binary from GWEMIX_URL", () => {
    const dirs: Array<string> = []
    const servers: Array<http.Server> = []
    afterEach(() => {
      for (const s of servers.splice(0)) s.close()
      for (const d of dirs.splice(0)) cleanup(d)
    })

    /** The stage's RUN, as sh runs it with the build args, its /out and /tmp moved into `dir`. */
    const download = async (dir: string, args: Record<string, string>) => {
      const stage = stages.find((s) => ops(s, "ARG").some((a) => a.startsWith("GWEMIX_URL")))!
      expect(stage).toBeDefined()
      expect(ops(stage, "ARG").map((a) => a.split("=")[0])).toEqual(["GWEMIX_URL", "GWEMIX_SHA256"])
      const run = ops(stage, "RUN").join("\n").split("/tmp/").join(`${dir}/`).replace(/(?<=\s)\/out\b/g, `${dir}/out`)
      expect(run.split(dir).join("DIR")).not.toMatch(/(?<=[\s"])\/(out|tmp)\b/)
      const r = await exec("sh", ["-c", run], {
        PATH: process.env.PATH ?? "",
        GWEMIX_URL: "",
        GWEMIX_SHA256: "",
        ...args
      })
      return { ...r, out: path.join(dir, "out") }
    }
    const serve = async (files: Record<string, Buffer>) => {
      const server = http.createServer((req, res) => {
        const body = files[req.url ?? ""]
        if (body === undefined) res.writeHead(404).end()
        else res.writeHead(200).end(body)
      })
      servers.push(server)
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
    }
    const sha256 = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex")

    it("takes a .tar.gz or a bare binary checked against GWEMIX_SHA256; refuses a wrong checksum, a missing one, a 404; nothing without a URL", async () => {
      const dir = tempDir("wemixvisor-docker-")
      dirs.push(dir)
      const binary = Buffer.from("#!/bin/sh\necho gwemix v0.10.9\n")
      fs.mkdirSync(path.join(dir, "pkg/gwemix-v0.10.9/bin"), { recursive: true })
      fs.writeFileSync(path.join(dir, "pkg/gwemix-v0.10.9/bin/gwemix"), binary, { mode: 0o755 })
      expect(spawnSync("tar", ["-czf", path.join(dir, "gwemix.tar.gz"), "-C", path.join(dir, "pkg"), "."]).status).toBe(
        0
      )
      const tarball = fs.readFileSync(path.join(dir, "gwemix.tar.gz"))
      const url = await serve({ "/gwemix.tar.gz": tarball, "/gwemix": binary })
      const fresh = () => {
        const d = tempDir("wemixvisor-docker-run-")
        dirs.push(d)
        return d
      }

      const fromTar = await download(fresh(), { GWEMIX_URL: `${url}/gwemix.tar.gz`, GWEMIX_SHA256: sha256(tarball) })
      expect(fromTar.code, fromTar.stderr).toBe(0)
      expect(fs.readFileSync(path.join(fromTar.out, "gwemix"))).toEqual(binary)
      expect(fs.statSync(path.join(fromTar.out, "gwemix")).mode & 0o777).toBe(0o755)

      const bare = await download(fresh(), { GWEMIX_URL: `${url}/gwemix`, GWEMIX_SHA256: `sha256:${sha256(binary)}` })
      expect(bare.code, bare.stderr).toBe(0)
      expect(fs.readFileSync(path.join(bare.out, "gwemix"))).toEqual(binary)

      const wrong = await download(fresh(), { GWEMIX_URL: `${url}/gwemix`, GWEMIX_SHA256: sha256(tarball) })
      expect(wrong.code).not.toBe(0)
      expect(fs.existsSync(path.join(wrong.out, "gwemix"))).toBe(false)
      const unchecked = await download(fresh(), { GWEMIX_URL: `${url}/gwemix` })
      expect(unchecked.code).not.toBe(0)
      expect(unchecked.stderr).toContain("GWEMIX_SHA256")
      const missing = await download(fresh(), { GWEMIX_URL: `${url}/nothing`, GWEMIX_SHA256: sha256(binary) })
      expect(missing.code).not.toBe(0)
      expect(missing.stderr).toContain("HTTP 404")

      const none = await download(fresh(), {})
      expect(none.code, none.stderr).toBe(0)
      expect(fs.readdirSync(none.out)).toEqual([])
    })
  })
})

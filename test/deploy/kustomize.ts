/*
 * A small kustomize renderer for the manifests in deploy/kubernetes, so
 * `npm test` checks them without a kustomize or kubectl binary (none is
 * promised on a CI machine, and the npm registry has no maintained build of
 * kustomize 5). It knows only the kustomize features those files use and
 * refuses everything else with an error naming the field and the file:
 *
 * - resources: YAML files (several documents each) and directories holding a
 *   kustomization (bases); no URLs;
 * - namespace, namePrefix;
 * - labels: `pairs` on metadata.labels only (no includeSelectors or
 *   includeTemplates);
 * - images: name, newName, newTag (no digest);
 * - configMapGenerator, secretGenerator: name, literals, behavior
 *   create/merge/replace, a Secret's type; names get kustomize's content hash
 *   suffix and the references to them are rewritten;
 * - patches: JSON 6902 (test, add, replace, remove) with a target of group,
 *   version, kind and name; no strategic-merge patches.
 *
 * The order is kustomize's: resources, generators, patches, namespace,
 * namePrefix, labels, images; then, for the whole build, the hash suffixes
 * and the name references (StatefulSet serviceName, envFrom, env valueFrom,
 * volumes). test/deploy/kubernetes.test.ts compares the output with
 * `kubectl kustomize` where kubectl is installed.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as YAML from "yaml"

export type Obj = Record<string, unknown>

/** A rendered object: what `kubectl kustomize` prints, parsed. */
export interface K8sObject extends Obj {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: Obj & { readonly name: string; readonly namespace?: string }
}

export class KustomizeError extends Error {
  override readonly name = "KustomizeError"
}

interface Resource {
  obj: Obj
  /** The name in its file or generator: what patch targets and references use. */
  readonly originalName: string
  /** A generated ConfigMap or Secret: its name gets the content hash. */
  readonly hashed: boolean
}

const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
const KUSTOMIZATION_FIELDS = new Set([
  "apiVersion",
  "kind",
  "resources",
  "namespace",
  "namePrefix",
  "labels",
  "images",
  "configMapGenerator",
  "secretGenerator",
  "patches"
])
/** Kinds without a namespace (kustomize neither sets a namespace nor adds namePrefix to a Namespace). */
const CLUSTER_SCOPED = new Set(["Namespace"])
/** Kinds whose spec.template is a pod template: images and name references apply there. */
const WORKLOADS = new Set(["StatefulSet", "Deployment", "DaemonSet", "ReplicaSet", "Job"])

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)

const fail = (where: string, message: string): never => {
  throw new KustomizeError(`${where}: ${message}`)
}

const only = (where: string, value: unknown, fields: ReadonlyArray<string>): Obj => {
  if (!isObj(value)) return fail(where, `expected a mapping, got ${JSON.stringify(value)}`)
  for (const k of Object.keys(value)) {
    if (!fields.includes(k)) fail(where, `unsupported field "${k}" (this renderer knows ${fields.join(", ")})`)
  }
  return value
}

const str = (where: string, value: unknown): string =>
  typeof value === "string" && value !== ""
    ? value
    : fail(where, `expected a non-empty string, got ${JSON.stringify(value)}`)

const list = (where: string, value: unknown): ReadonlyArray<unknown> =>
  value === undefined ? [] : Array.isArray(value) ? value : fail(where, "expected a list")

const metadataOf = (obj: Obj): Obj => {
  if (!isObj(obj.metadata)) obj.metadata = {}
  return obj.metadata as Obj
}

const nameOf = (obj: Obj): string => String(metadataOf(obj).name)

const groupVersion = (apiVersion: string) => {
  const i = apiVersion.lastIndexOf("/")
  return i < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) }
}

const parseDocuments = (file: string): Array<unknown> =>
  YAML.parseAllDocuments(fs.readFileSync(file, "utf8")).map((doc) => {
    if (doc.errors.length > 0) fail(file, doc.errors.map((e) => e.message).join("; "))
    return doc.toJS()
  }).filter((d) => d !== null && d !== undefined)

const loadFile = (file: string): Array<Resource> =>
  parseDocuments(file).map((doc, i) => {
    const where = `${file} (document ${i + 1})`
    if (!isObj(doc)) return fail(where, "not a mapping")
    str(`${where} apiVersion`, doc.apiVersion)
    const kind = str(`${where} kind`, doc.kind)
    if (kind.endsWith("List")) fail(where, `a ${kind} is not supported: one object per document`)
    const name = str(`${where} metadata.name`, isObj(doc.metadata) ? doc.metadata.name : undefined)
    return { obj: doc, originalName: name, hashed: false }
  })

// --- generators ---------------------------------------------------------------

/** KEY=VALUE; a value in matching quotes loses them (as kustomize does). */
const parseLiteral = (where: string, literal: unknown): readonly [string, string] => {
  const s = str(where, literal)
  const i = s.indexOf("=")
  if (i <= 0) fail(where, `literal ${JSON.stringify(s)} is not KEY=VALUE`)
  const key = s.slice(0, i)
  if (!/^[-._a-zA-Z0-9]+$/.test(key)) fail(where, `key ${JSON.stringify(key)} is not a valid ConfigMap/Secret key`)
  let value = s.slice(i + 1)
  if (value.length >= 2 && (value[0] === "\"" || value[0] === "'") && value.at(-1) === value[0]) {
    value = value.slice(1, -1)
  }
  return [key, value]
}

const generate = (
  where: string,
  kind: "ConfigMap" | "Secret",
  spec: unknown,
  resources: Array<Resource>
): void => {
  const fields = kind === "ConfigMap" ? ["name", "literals", "behavior"] : ["name", "literals", "behavior", "type"]
  const g = only(where, spec, fields)
  const name = str(`${where} name`, g.name)
  const at = `${where} (${name})`
  const encode = (v: string) => kind === "Secret" ? Buffer.from(v, "utf8").toString("base64") : v
  const data: Record<string, string> = {}
  for (const literal of list(`${at} literals`, g.literals)) {
    const [k, v] = parseLiteral(`${at} literals`, literal)
    if (k in data) fail(at, `key ${k} given twice`)
    data[k] = encode(v)
  }
  const behavior = g.behavior === undefined ? "create" : str(`${at} behavior`, g.behavior)
  const existing = resources.find((r) => r.obj.kind === kind && r.originalName === name)
  switch (behavior) {
    case "create": {
      if (existing !== undefined) fail(at, `a ${kind} ${name} exists already (use behavior: merge or replace)`)
      const obj: Obj = { apiVersion: "v1", kind, metadata: { name } }
      if (kind === "Secret") obj.type = g.type === undefined ? "Opaque" : str(`${at} type`, g.type)
      obj.data = data
      resources.push({ obj, originalName: name, hashed: true })
      return
    }
    case "merge":
    case "replace": {
      if (existing === undefined || !existing.hashed) {
        return fail(at, `behavior ${behavior}: no generated ${kind} ${name} in the resources`)
      }
      if (g.type !== undefined) fail(at, `behavior ${behavior} cannot change the type`)
      const before = isObj(existing.obj.data) ? existing.obj.data : {}
      existing.obj.data = behavior === "merge" ? { ...before, ...data } : data
      return
    }
    default:
      fail(at, `unsupported behavior ${JSON.stringify(behavior)} (create, merge or replace)`)
  }
}

// --- JSON 6902 ----------------------------------------------------------------

const pointer = (where: string, p: unknown): Array<string> => {
  const s = str(`${where} path`, p)
  if (!s.startsWith("/")) fail(where, `path ${s} does not start with /`)
  return s.slice(1).split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"))
}

const index = (where: string, arr: ReadonlyArray<unknown>, token: string, forAdd: boolean): number => {
  if (forAdd && token === "-") return arr.length
  if (!/^(0|[1-9]\d*)$/.test(token)) fail(where, `${token} is not an index`)
  const i = Number(token)
  if (i > arr.length || (!forAdd && i === arr.length)) fail(where, `index ${i} is out of range (${arr.length} items)`)
  return i
}

const applyOp = (where: string, target: Obj, op: unknown): void => {
  const o = only(where, op, ["op", "path", "value"])
  const kind = str(`${where} op`, o.op)
  if (!["test", "add", "replace", "remove"].includes(kind)) {
    fail(where, `unsupported op ${kind} (test, add, replace, remove)`)
  }
  if (kind !== "remove" && !("value" in o)) fail(where, `op ${kind} needs a value`)
  const tokens = pointer(where, o.path)
  const last = tokens.pop()!
  let parent: unknown = target
  for (const t of tokens) {
    if (Array.isArray(parent)) parent = parent[index(where, parent, t, false)]
    else if (isObj(parent) && t in parent) parent = parent[t]
    else return fail(where, `path ${String(o.path)}: no ${t}`)
  }
  if (Array.isArray(parent)) {
    const i = index(where, parent, last, kind === "add")
    if (kind === "add") parent.splice(i, 0, o.value)
    else if (kind === "remove") parent.splice(i, 1)
    else if (kind === "replace") parent[i] = o.value
    else if (!deepEqual(parent[i], o.value)) fail(where, `test failed at ${String(o.path)}`)
    return
  }
  if (!isObj(parent)) return fail(where, `path ${String(o.path)}: parent is not a container`)
  if (kind !== "add" && !(last in parent)) fail(where, `path ${String(o.path)}: no ${last}`)
  if (kind === "remove") delete parent[last]
  else if (kind === "test") {
    if (!deepEqual(parent[last], o.value)) {
      fail(where, `test failed at ${String(o.path)}: ${JSON.stringify(parent[last])} is not ${JSON.stringify(o.value)}`)
    }
  } else parent[last] = o.value
}

const deepEqual = (a: unknown, b: unknown): boolean => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b))

const sortKeys = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(sortKeys)
    : isObj(v)
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]))
    : v

const patch = (where: string, spec: unknown, dir: string, resources: ReadonlyArray<Resource>): void => {
  const p = only(where, spec, ["target", "patch", "path"])
  const t = only(`${where} target`, p.target, ["group", "version", "kind", "name"])
  if (t.kind === undefined || t.name === undefined) fail(where, "target needs kind and name")
  const text = p.patch !== undefined
    ? str(`${where} patch`, p.patch)
    : fs.readFileSync(path.resolve(dir, str(`${where} path`, p.path)), "utf8")
  if (p.patch !== undefined && p.path !== undefined) fail(where, "patch and path both given")
  const ops: unknown = YAML.parse(text)
  if (!Array.isArray(ops)) {
    return fail(where, "only JSON 6902 patches (a list of operations) are supported, not strategic-merge patches")
  }
  const matches = resources.filter((r) => {
    const gv = groupVersion(String(r.obj.apiVersion))
    return r.obj.kind === t.kind && (r.originalName === t.name || nameOf(r.obj) === t.name) &&
      (t.group === undefined || t.group === gv.group) && (t.version === undefined || t.version === gv.version)
  })
  if (matches.length === 0) fail(where, `target ${JSON.stringify(t)} matches no resource`)
  for (const r of matches) ops.forEach((op, i) => applyOp(`${where} operation ${i + 1}`, r.obj, op))
}

// --- images -------------------------------------------------------------------

const splitImage = (image: string) => {
  const at = image.indexOf("@")
  const beforeDigest = at < 0 ? image : image.slice(0, at)
  const colon = beforeDigest.lastIndexOf(":")
  const slash = beforeDigest.lastIndexOf("/")
  const name = colon > slash ? beforeDigest.slice(0, colon) : beforeDigest
  return { name, rest: image.slice(name.length) }
}

const podSpecOf = (obj: Obj): Obj | undefined => {
  if (!WORKLOADS.has(String(obj.kind)) || !isObj(obj.spec) || !isObj(obj.spec.template)) return undefined
  const spec = obj.spec.template.spec
  return isObj(spec) ? spec : undefined
}

const containersOf = (obj: Obj): Array<Obj> => {
  const spec = podSpecOf(obj)
  if (spec === undefined) return []
  return [...list("containers", spec.initContainers), ...list("containers", spec.containers)].filter(isObj)
}

const setImages = (where: string, specs: ReadonlyArray<unknown>, resources: ReadonlyArray<Resource>) => {
  for (const [i, spec] of specs.entries()) {
    const at = `${where} images[${i}]`
    const s = only(at, spec, ["name", "newName", "newTag"])
    const name = str(`${at} name`, s.name)
    const newName = s.newName === undefined ? undefined : str(`${at} newName`, s.newName)
    const newTag = s.newTag === undefined ? undefined : str(`${at} newTag`, String(s.newTag))
    for (const c of resources.flatMap((r) => containersOf(r.obj))) {
      if (typeof c.image !== "string") continue
      const parts = splitImage(c.image)
      if (parts.name !== name) continue
      c.image = `${newName ?? name}${newTag === undefined ? parts.rest : `:${newTag}`}`
    }
  }
}

// --- the build ----------------------------------------------------------------

const build = (dir: string, seen: ReadonlyArray<string>): Array<Resource> => {
  if (seen.includes(dir)) fail(dir, `a cycle of kustomizations: ${[...seen, dir].join(" -> ")}`)
  const file = KUSTOMIZATION_FILES.map((f) => path.join(dir, f)).find((f) => fs.existsSync(f))
  if (file === undefined) return fail(dir, "no kustomization.yaml")
  const docs = parseDocuments(file)
  if (docs.length !== 1 || !isObj(docs[0])) return fail(file, "expected one mapping")
  const k = docs[0]
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_FIELDS.has(key)) {
      fail(
        file,
        `unsupported kustomization field "${key}" (this renderer knows ${[...KUSTOMIZATION_FIELDS].join(", ")})`
      )
    }
  }
  if (k.apiVersion !== undefined && k.apiVersion !== "kustomize.config.k8s.io/v1beta1") {
    fail(file, `unsupported apiVersion ${String(k.apiVersion)}`)
  }
  if (k.kind !== undefined && k.kind !== "Kustomization") fail(file, `unsupported kind ${String(k.kind)}`)

  const resources: Array<Resource> = []
  for (const entry of list(`${file} resources`, k.resources)) {
    const rel = str(`${file} resources`, entry)
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rel) || rel.startsWith("github.com/")) {
      fail(file, `remote resource ${rel} is not supported`)
    }
    const target = path.resolve(dir, rel)
    if (!fs.existsSync(target)) fail(file, `resource ${rel} does not exist`)
    resources.push(...(fs.statSync(target).isDirectory() ? build(target, [...seen, dir]) : loadFile(target)))
  }
  for (const [i, g] of list(`${file} configMapGenerator`, k.configMapGenerator).entries()) {
    generate(`${file} configMapGenerator[${i}]`, "ConfigMap", g, resources)
  }
  for (const [i, g] of list(`${file} secretGenerator`, k.secretGenerator).entries()) {
    generate(`${file} secretGenerator[${i}]`, "Secret", g, resources)
  }
  for (const [i, p] of list(`${file} patches`, k.patches).entries()) patch(`${file} patches[${i}]`, p, dir, resources)

  if (k.namespace !== undefined) {
    const ns = str(`${file} namespace`, k.namespace)
    for (const r of resources) if (!CLUSTER_SCOPED.has(String(r.obj.kind))) metadataOf(r.obj).namespace = ns
  }
  if (k.namePrefix !== undefined) {
    const prefix = str(`${file} namePrefix`, k.namePrefix)
    for (const r of resources) {
      if (!CLUSTER_SCOPED.has(String(r.obj.kind))) metadataOf(r.obj).name = `${prefix}${nameOf(r.obj)}`
    }
  }
  for (const [i, l] of list(`${file} labels`, k.labels).entries()) {
    const at = `${file} labels[${i}]`
    const spec = only(at, l, ["pairs", "includeSelectors", "includeTemplates"])
    if (spec.includeSelectors === true || spec.includeTemplates === true) {
      fail(at, "includeSelectors and includeTemplates are not supported: labels go on metadata.labels only")
    }
    const pairs = isObj(spec.pairs) ? spec.pairs : fail(`${at} pairs`, "expected a mapping of label: value")
    for (const r of resources) {
      const meta = metadataOf(r.obj)
      const labels = isObj(meta.labels) ? meta.labels : {}
      for (const [key, value] of Object.entries(pairs)) labels[key] = str(`${at} pairs.${key}`, String(value))
      meta.labels = labels
    }
  }
  setImages(file, list(`${file} images`, k.images), resources)
  return resources
}

// --- hash suffixes and name references ----------------------------------------

/** Go's json.Marshal: sorted keys, and <, >, &, U+2028, U+2029 escaped. */
const goJson = (v: unknown): string =>
  JSON.stringify(sortKeys(v)).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/**
 * kustomize's content hash of a generated ConfigMap or Secret (api/hasher):
 * sha256 of the JSON of kind, name, data (and a Secret's type), its first ten
 * hex digits with 0, 1, 3, a, e mapped to g, h, k, m, t. kustomize 5 looks
 * the name up as one field called "metadata/name", finds none and hashes an
 * empty name: so does this.
 */
export const contentHash = (obj: Obj): string => {
  const fields: Obj = obj.kind === "Secret"
    ? { kind: "Secret", type: obj.type ?? "", name: "", data: obj.data ?? "" }
    : { kind: "ConfigMap", name: "", data: obj.data ?? "" }
  const hex = createHash("sha256").update(goJson(fields)).digest("hex")
  return hex.slice(0, 10).replace(/[013ae]/g, (c) => ({ "0": "g", "1": "h", "3": "k", a: "m", e: "t" })[c]!)
}

const renameReferences = (obj: Obj, finalName: (kind: string, name: string) => string | undefined) => {
  const rename = (holder: unknown, field: string, kind: string) => {
    if (!isObj(holder) || typeof holder[field] !== "string") return
    const to = finalName(kind, holder[field])
    if (to !== undefined) holder[field] = to
  }
  if (obj.kind === "StatefulSet" && isObj(obj.spec)) rename(obj.spec, "serviceName", "Service")
  const spec = podSpecOf(obj)
  if (spec === undefined) return
  for (const c of containersOf(obj)) {
    for (const e of list("envFrom", c.envFrom).filter(isObj)) {
      rename(e.configMapRef, "name", "ConfigMap")
      rename(e.secretRef, "name", "Secret")
    }
    for (const e of list("env", c.env).filter(isObj)) {
      if (!isObj(e.valueFrom)) continue
      rename(e.valueFrom.configMapKeyRef, "name", "ConfigMap")
      rename(e.valueFrom.secretKeyRef, "name", "Secret")
    }
  }
  for (const v of list("volumes", spec.volumes).filter(isObj)) {
    rename(v.configMap, "name", "ConfigMap")
    rename(v.secret, "secretName", "Secret")
    rename(v.persistentVolumeClaim, "claimName", "PersistentVolumeClaim")
  }
}

/** The objects `kubectl kustomize <dir>` would print (in no particular order). */
export const render = (dir: string): Array<K8sObject> => {
  const resources = build(path.resolve(dir), [])
  for (const r of resources) {
    if (r.hashed) metadataOf(r.obj).name = `${nameOf(r.obj)}-${contentHash(r.obj)}`
  }
  const seen = new Set<string>()
  for (const r of resources) {
    const id = `${String(r.obj.kind)} ${String(metadataOf(r.obj).namespace ?? "")}/${nameOf(r.obj)}`
    if (seen.has(id)) fail(dir, `two resources are ${id}`)
    seen.add(id)
  }
  const finalName = (kind: string, name: string) =>
    resources.find((r) => r.obj.kind === kind && r.originalName === name)?.obj.metadata as Obj | undefined
  for (const r of resources) {
    renameReferences(r.obj, (kind, name) => {
      const meta = finalName(kind, name)
      return meta === undefined ? undefined : String(meta.name)
    })
  }
  return resources.map((r) => r.obj as K8sObject)
}

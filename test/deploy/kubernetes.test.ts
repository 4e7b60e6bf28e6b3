/*
 * The Kubernetes manifests (deploy/kubernetes): the base and the example
 * overlay rendered by test/deploy/kustomize.ts (no kustomize binary needed),
 * every object validated against the Kubernetes / Prometheus Operator
 * schemas of kubernetes-models, and what the supervisor needs of them
 * checked: the probes, the token, the grace period, the monitor, the PDB, the
 * overlay. Where kubectl is installed, `kubectl kustomize` must render the
 * same objects as the small renderer.
 */
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { StatefulSet } from "kubernetes-models/apps/v1"
import { PodDisruptionBudget } from "kubernetes-models/policy/v1"
import { ConfigMap, Namespace, Secret, Service } from "kubernetes-models/v1"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as YAML from "yaml"
import { loadConfig } from "../../src/config/Config.js"
import { CONFIG_NAMES } from "../../src/config/Keys.js"
import { repoRoot } from "../support/fixtures.js"
import { contentHash, type K8sObject, KustomizeError, type Obj, render } from "./kustomize.js"

const k8sDir = path.join(repoRoot, "deploy/kubernetes")
const BASE = path.join(k8sDir, "base")
const OVERLAY = path.join(k8sDir, "overlays/example")

// --- validation -----------------------------------------------------------------

interface ModelClass {
  readonly apiVersion: string
  readonly kind: string
}
/** A model's validate(), for any object: the schemas decide, the types of the classes do not. */
const model = <T>(M: ModelClass & (new(data: T) => { validate(): void })) =>
  [`${M.apiVersion} ${M.kind}`, (o: unknown) => new M(o as T).validate()] as const

/** apiVersion + kind -> the kubernetes-models class that validates it. Nothing else may be rendered. */
const MODELS = new Map<string, (o: unknown) => void>([
  model(Namespace),
  model(ConfigMap),
  model(Secret),
  model(Service),
  model(StatefulSet),
  model(PodDisruptionBudget),
  model(ServiceMonitor)
])

/** Throws when the object is of a kind without a model here, or its model rejects it. */
const validate = (o: K8sObject): void => {
  const check = MODELS.get(`${o.apiVersion} ${o.kind}`)
  if (check === undefined) {
    throw new Error(`${o.kind} ${o.metadata.name}: no model for ${o.apiVersion} ${o.kind} (add one to MODELS)`)
  }
  try {
    check(o)
  } catch (e) {
    throw new Error(`${o.kind} ${o.metadata.name}: ${e instanceof Error ? e.message : String(e)}`)
  }
}

// --- reading the rendered objects -------------------------------------------------

type Rendered = ReadonlyArray<K8sObject>

const ofKind = (objs: Rendered, kind: string): Array<K8sObject> => objs.filter((o) => o.kind === kind)
const one = (objs: Rendered, kind: string): K8sObject => {
  const found = ofKind(objs, kind)
  expect(found.map((o) => o.metadata.name), `exactly one ${kind}`).toHaveLength(1)
  return found[0]!
}
const at = (o: unknown, ...keys: Array<string | number>): unknown =>
  keys.reduce<unknown>((v, k) => (v === null || v === undefined ? undefined : (v as Record<string, unknown>)[k]), o)
const asObj = (v: unknown): Obj => (typeof v === "object" && v !== null ? v as Obj : {})
const asList = (v: unknown): Array<Obj> => (Array.isArray(v) ? v.map(asObj) : [])
const labelsOf = (o: unknown): Record<string, string> => asObj(at(o, "metadata", "labels")) as Record<string, string>
/** Every pair of `selector` is in `labels` (and the selector is not empty). */
const selects = (selector: unknown, labels: Record<string, string>) => {
  const pairs = Object.entries(asObj(selector))
  return pairs.length > 0 && pairs.every(([k, v]) => labels[k] === v)
}

const podSpec = (sts: K8sObject) => asObj(at(sts, "spec", "template", "spec"))
const allContainers = (sts: K8sObject) => [
  ...asList(podSpec(sts).initContainers),
  ...asList(podSpec(sts).containers)
]
const nodeContainer = (sts: K8sObject) => {
  const c = asList(podSpec(sts).containers).find((c) => c.name === "node")
  expect(c, "a container named node").toBeDefined()
  return c!
}
const envOf = (c: Obj, name: string) => asList(c.env).find((e) => e.name === name)

const sortedByKindName = (objs: Rendered) =>
  [...objs].sort((a, b) =>
    `${a.kind}/${a.metadata.namespace ?? ""}/${a.metadata.name}`.localeCompare(
      `${b.kind}/${b.metadata.namespace ?? ""}/${b.metadata.name}`
    )
  )

const kubectl = spawnSync("sh", ["-c", "command -v kubectl"], { encoding: "utf8" }).status === 0
const kubectlKustomize = (dir: string): Array<K8sObject> => {
  const r = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8", timeout: 60_000 })
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} exited ${r.status}: ${r.stderr}`)
  return YAML.parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).filter((o) => o !== null)
}
if (!kubectl) {
  console.warn("skipping the kubectl comparison: kubectl is not on PATH (the renderer's own checks still run)")
}

// --- the checks every rendering must pass --------------------------------------------

const essentials = (objs: Rendered) => {
  const sts = one(objs, "StatefulSet")
  const svc = one(objs, "Service")
  const cm = one(objs, "ConfigMap")
  const secret = one(objs, "Secret")
  const monitor = one(objs, "ServiceMonitor")
  const pdb = one(objs, "PodDisruptionBudget")
  const pod = podSpec(sts)
  const podLabels = labelsOf(at(sts, "spec", "template"))
  const node = nodeContainer(sts)
  const settings = asObj(cm.data) as Record<string, string>

  // one replica, selecting its own pods; wemixvisor is the process, `run` its command
  expect(at(sts, "spec", "replicas")).toBe(1)
  expect(selects(at(sts, "spec", "selector", "matchLabels"), podLabels)).toBe(true)
  expect(node.command).toEqual(["wemixvisor"])
  expect((node.args as Array<string>)[0]).toBe("run")
  expect(node.args).toContain("--")

  // the probes: GET /health on 8590; liveness far more patient than readiness
  const ready = asObj(node.readinessProbe)
  const live = asObj(node.livenessProbe)
  for (const probe of [ready, live]) {
    expect(at(probe, "httpGet", "path")).toBe("/health")
    expect(at(probe, "httpGet", "port")).toBe(8590)
  }
  const patience = (p: Obj) => Number(p.periodSeconds ?? 10) * Number(p.failureThreshold ?? 3)
  expect(patience(live), "liveness tolerates /health failing for 15 minutes or more").toBeGreaterThanOrEqual(15 * 60)
  expect(patience(live)).toBeGreaterThan(patience(ready))

  // the API beyond loopback, with the token from a key of the rendered Secret
  expect(envOf(node, "WEMIXVISOR_API_ADDR")?.value).toBe("0.0.0.0:8590")
  const tokenRef = asObj(at(envOf(node, "WEMIXVISOR_API_TOKEN"), "valueFrom", "secretKeyRef"))
  expect(tokenRef.name).toBe(secret.metadata.name)
  expect(Object.keys(asObj(secret.data))).toContain(tokenRef.key)
  expect(Buffer.from(String(asObj(secret.data)[String(tokenRef.key)]), "base64").toString().length).toBeGreaterThan(16)

  // the settings: from the rendered ConfigMap, every name one wemixvisor reads
  for (const c of allContainers(sts)) {
    expect(asList(c.envFrom).map((e) => at(e, "configMapRef", "name"))).toContain(cm.metadata.name)
  }
  const unknown = [...Object.keys(settings), ...asList(node.env).map((e) => String(e.name))].filter((k) =>
    /^(DAEMON|WEMIXVISOR)_/.test(k) && !CONFIG_NAMES.includes(k)
  )
  expect(unknown, "settings wemixvisor does not read").toEqual([])
  expect(settings.DAEMON_HOME).toBeDefined()
  expect(settings.DAEMON_DATA_DIR).toBeDefined()
  expect(pod.enableServiceLinks).toBe(false)

  // home and data are volumes of their own, mounted where the settings say
  const claims = asList(at(sts, "spec", "volumeClaimTemplates")).map((t) => String(at(t, "metadata", "name")))
  expect(claims).toEqual(expect.arrayContaining(["home", "data"]))
  const mounts = Object.fromEntries(asList(node.volumeMounts).map((m) => [m.mountPath, m.name]))
  expect(mounts[settings.DAEMON_HOME!]).toBe("home")
  expect(mounts[settings.DAEMON_DATA_DIR!]).toBe("data")

  // the pod's environment is a configuration wemixvisor accepts, as `run` would read it
  const secretValue = (ref: unknown) =>
    Buffer.from(String(asObj(secret.data)[String(at(ref, "key"))]), "base64").toString("utf8")
  const podEnv: Record<string, string> = { ...settings }
  for (const e of asList(node.env)) {
    const ref = at(e, "valueFrom", "secretKeyRef")
    podEnv[String(e.name)] = ref === undefined ? String(e.value) : secretValue(ref)
  }
  const config = Effect.runSync(loadConfig({ env: podEnv }))
  expect(config.apiAddr).toBe("0.0.0.0:8590")
  expect(Option.getOrUndefined(config.apiToken)).toBe(secretValue(tokenRef))
  expect(config.dataDir).toBe(settings.DAEMON_DATA_DIR)
  expect(config.ignored).toEqual([])

  // time for wemixvisor to stop the node: longer than DAEMON_SHUTDOWN_GRACE (30s by default) and a margin
  const podGrace = Number(pod.terminationGracePeriodSeconds)
  expect(podGrace).toBeGreaterThan(30)
  expect(podGrace).toBeGreaterThanOrEqual(Duration.toSeconds(config.shutdownGrace) + 15)

  // not root, no privilege escalation
  expect(at(pod, "securityContext", "runAsNonRoot")).toBe(true)
  expect(Number(at(pod, "securityContext", "runAsUser"))).toBeGreaterThan(0)
  for (const c of allContainers(sts)) {
    expect(at(c, "securityContext", "allowPrivilegeEscalation"), String(c.name)).toBe(false)
  }

  // the ports: the API, the node's P2P (TCP and UDP) and RPC
  const ports = asList(node.ports).map((p) => `${String(p.containerPort)}/${String(p.protocol ?? "TCP")}`)
  expect(ports).toEqual(expect.arrayContaining(["8590/TCP", "30303/TCP", "30303/UDP", "8588/TCP", "8598/TCP"]))

  // the Service: the governing one, selecting the pod, its api port the container's 8590
  expect(at(sts, "spec", "serviceName")).toBe(svc.metadata.name)
  expect(selects(at(svc, "spec", "selector"), podLabels)).toBe(true)
  expect(at(svc, "spec", "publishNotReadyAddresses")).toBe(true)
  const apiPort = asList(at(svc, "spec", "ports")).find((p) => p.name === "api")
  expect(apiPort?.port).toBe(8590)
  const target = asList(node.ports).find((p) =>
    p.name === apiPort?.targetPort || p.containerPort === apiPort?.targetPort
  )
  expect(target?.containerPort).toBe(8590)

  // the ServiceMonitor: selects the Service, scrapes /metrics on a port the Service has, as job "wemixvisor"
  expect(selects(at(monitor, "spec", "selector", "matchLabels"), labelsOf(svc))).toBe(true)
  const svcPortNames = asList(at(svc, "spec", "ports")).map((p) => p.name)
  const endpoints = asList(at(monitor, "spec", "endpoints"))
  expect(endpoints.length).toBeGreaterThan(0)
  for (const e of endpoints) {
    expect(svcPortNames).toContain(e.port)
    expect(e.path).toBe("/metrics")
  }
  expect(labelsOf(svc)[String(at(monitor, "spec", "jobLabel"))], "the job deploy/prometheus/alerts.yml expects").toBe(
    "wemixvisor"
  )

  // the PDB: the StatefulSet's pods, never evicted
  expect(selects(at(pdb, "spec", "selector", "matchLabels"), podLabels)).toBe(true)
  expect(at(pdb, "spec", "maxUnavailable")).toBe(0)
  expect(at(pdb, "spec", "minAvailable")).toBeUndefined()
  expect(at(pdb, "spec", "unhealthyPodEvictionPolicy"), "a pod that is not ready is not evictable either").not.toBe(
    "AlwaysAllow"
  )
}

// --- the tests ----------------------------------------------------------------------

describe("deploy/kubernetes", () => {
  const base = render(BASE)
  const overlay = render(OVERLAY)

  describe.each([["base", BASE, base], ["overlays/example", OVERLAY, overlay]] as const)("%s", (_, dir, objs) => {
    it("renders only objects of known kinds that their schemas accept", () => {
      expect(objs.length).toBeGreaterThan(0)
      for (const o of objs) expect(() => validate(o)).not.toThrow()
    })

    it("has what wemixvisor needs: probes, token, settings, grace, ports, Service, ServiceMonitor, PDB", () => {
      essentials(objs)
    })

    it.skipIf(!kubectl)("renders the same objects as `kubectl kustomize`", () => {
      expect(sortedByKindName(objs)).toEqual(sortedByKindName(kubectlKustomize(dir)))
    })
  })

  it("the overlay: its namespace, prefix, label and image on every object; mainnet settings; a 1Ti data volume", () => {
    const ns = one(overlay, "Namespace")
    expect(ns.metadata.name).toBe("wemix-example")
    for (const o of overlay) {
      expect(labelsOf(o)["app.kubernetes.io/instance"], `${o.kind} ${o.metadata.name}`).toBe("example")
      if (o.kind === "Namespace") continue
      expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe("wemix-example")
      expect(o.metadata.name, o.kind).toMatch(/^example-/)
    }
    const images = ofKind(overlay, "StatefulSet").flatMap(allContainers).map((c) => c.image)
    expect(images.length).toBeGreaterThanOrEqual(2)
    for (const image of images) expect(image).toBe("registry.example.com/wemix/wemixvisor:0.1.0")
    const settings = asObj(one(overlay, "ConfigMap").data)
    expect(settings.DAEMON_CHAIN_ID).toBe("1111")
    expect(settings.DAEMON_HOME).toBe(asObj(one(base, "ConfigMap").data).DAEMON_HOME)
    const storage = (objs: Rendered, claim: string) =>
      at(
        asList(at(one(objs, "StatefulSet"), "spec", "volumeClaimTemplates")).find((t) =>
          at(t, "metadata", "name") === claim
        ),
        "spec",
        "resources",
        "requests",
        "storage"
      )
    expect(storage(overlay, "data")).toBe("1Ti")
    expect(storage(overlay, "home")).toBe(storage(base, "home"))
    // the merged ConfigMap is a new name, so a change of settings rolls the pod
    expect(one(overlay, "ConfigMap").metadata.name).not.toBe(`example-${one(base, "ConfigMap").metadata.name}`)
  })

  describe("the checks can fail", () => {
    const sts = () => structuredClone(one(base, "StatefulSet")) as Obj & K8sObject

    it("a schema violation is rejected", () => {
      const broken = sts()
      nodeContainer(broken).ports = [{ name: "api", containerPort: "8590" }]
      expect(() => validate(broken)).toThrow(/containerPort must be integer/)
      const noSelector = sts()
      delete (noSelector.spec as Obj).selector
      expect(() => validate(noSelector)).toThrow(/selector/)
    })

    it("an object of a kind without a model fails", () => {
      const ingress = { apiVersion: "networking.k8s.io/v1", kind: "Ingress", metadata: { name: "x" } }
      expect(() => validate(ingress as K8sObject)).toThrow(/no model for networking.k8s.io\/v1 Ingress/)
    })

    it("a missing probe, a wrong token key, a short grace period or a bad setting fails the essentials", () => {
      const withoutLiveness = sts()
      delete nodeContainer(withoutLiveness).livenessProbe
      expect(() => essentials(base.map((o) => o.kind === "StatefulSet" ? withoutLiveness : o))).toThrow()

      const wrongKey = sts()
      const ref = asObj(at(envOf(nodeContainer(wrongKey), "WEMIXVISOR_API_TOKEN"), "valueFrom", "secretKeyRef"))
      ref.key = "api-token"
      expect(() => essentials(base.map((o) => o.kind === "StatefulSet" ? wrongKey : o))).toThrow()

      const shortGrace = sts()
      podSpec(shortGrace).terminationGracePeriodSeconds = 30
      expect(() => essentials(base.map((o) => o.kind === "StatefulSet" ? shortGrace : o))).toThrow()

      const longShutdown = structuredClone(one(base, "ConfigMap"))
      asObj(longShutdown.data).DAEMON_SHUTDOWN_GRACE = "5m"
      expect(() => essentials(base.map((o) => o.kind === "ConfigMap" ? longShutdown : o))).toThrow(
        /toBeGreaterThanOrEqual|expected/
      )

      const badValue = structuredClone(one(base, "ConfigMap"))
      asObj(badValue.data).DAEMON_SHUTDOWN_GRACE = "60"
      expect(() => essentials(base.map((o) => o.kind === "ConfigMap" ? badValue : o))).toThrow(/DAEMON_SHUTDOWN_GRACE/)
    })
  })

  describe("the renderer", () => {
    const dirs: Array<string> = []
    const kustomization = (text: string, files: Record<string, string> = {}) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wemixvisor-kustomize-"))
      dirs.push(dir)
      fs.writeFileSync(path.join(dir, "kustomization.yaml"), text)
      for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content)
      return dir
    }
    afterAll(() => {
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
    })
    const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n"

    it("refuses a kustomization field it does not know", () => {
      const dir = kustomization("resources: [cm.yaml]\ncommonAnnotations:\n  a: b\n", { "cm.yaml": cm })
      expect(() => render(dir)).toThrow(KustomizeError)
      expect(() => render(dir)).toThrow(/unsupported kustomization field "commonAnnotations"/)
    })

    it("refuses a strategic-merge patch, selector labels and a patch that matches nothing", () => {
      const smp = kustomization(
        "resources: [cm.yaml]\npatches:\n  - target: {kind: ConfigMap, name: c}\n    patch: |-\n      data:\n        a: c\n",
        { "cm.yaml": cm }
      )
      expect(() => render(smp)).toThrow(/only JSON 6902 patches/)
      const selectors = kustomization(
        "resources: [cm.yaml]\nlabels:\n  - pairs: {a: b}\n    includeSelectors: true\n",
        { "cm.yaml": cm }
      )
      expect(() => render(selectors)).toThrow(/includeSelectors/)
      const nothing = kustomization(
        "resources: [cm.yaml]\npatches:\n  - target: {kind: ConfigMap, name: d}\n    patch: |-\n      - op: remove\n        path: /data\n",
        { "cm.yaml": cm }
      )
      expect(() => render(nothing)).toThrow(/matches no resource/)
    })

    it("hashes generated objects as kustomize 5 does", () => {
      // `kubectl kustomize` (kustomize v5.5) of configMapGenerator/secretGenerator `name: c|s, literals: [a=b]`
      expect(contentHash({ kind: "ConfigMap", data: { a: "b" } })).toBe("4h2mbtbbt6")
      expect(contentHash({ kind: "Secret", type: "Opaque", data: { a: Buffer.from("b").toString("base64") } })).toBe(
        "k695gkmbtk"
      )
    })
  })
})

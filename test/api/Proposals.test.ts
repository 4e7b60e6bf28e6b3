/*
 * The governance proposals through the API: REST GET /api/v1/proposals and
 * the ListProposals RPC answer every proposal the Proposals service tracks
 * (final ones included), newest first, as ProposalList; token-protected like
 * every other GET. The status's `proposals` (the orchestrator's) is only
 * carried here: its filtering is the orchestrator's (test/orchestrator).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Ref, Schema } from "effect"
import { layerProtocol, makeClient, ProposalList } from "../../src/api/index.js"
import { openProposals } from "../../src/domain/Status.js"
import { idleStatus, request, sampleProposals, served, setupApi } from "./support.js"

describe("GET /api/v1/proposals", () => {
  it.scopedLive("none tracked: an empty list", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      expect(yield* request(w, "GET", "/api/v1/proposals")).toMatchObject({
        status: 200,
        body: { proposals: [], count: 0 }
      })
    }))

  it.scopedLive("every tracked proposal, final ones too, in the service's order (newest first), as ProposalList", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      yield* Ref.set(w.proposals, sampleProposals)
      const r = yield* request(w, "GET", "/api/v1/proposals")
      expect(r.status).toBe(200)
      expect(r.headers.get("content-type")).toMatch(/^application\/json/)
      expect(r.body).toEqual({ proposals: sampleProposals, count: 3 })
      expect(Either.isRight(Schema.decodeUnknownEither(ProposalList)(r.body))).toBe(true)
    }))

  it.scopedLive("token-protected: none or a wrong one → 401", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ token: "s3cret-token-for-proposals" })
      yield* Ref.set(w.proposals, sampleProposals)
      for (const token of [null, "wrong"]) {
        const r = yield* request(w, "GET", "/api/v1/proposals", { token })
        expect(r.status, `token=${token}`).toBe(401)
        expect(JSON.stringify(r.body)).not.toContain("Upgrade to v2")
      }
      expect((yield* request(w, "GET", "/api/v1/proposals")).status).toBe(200)
    }))
})

describe("RPC ListProposals", () => {
  it.scopedLive("the same list as REST, typed; without the token a typed Unauthorized", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      const client = yield* makeClient.pipe(Effect.provide(layerProtocol({ url: w.base, token: w.token })))
      expect(yield* client.ListProposals()).toEqual({ proposals: [], count: 0 })
      yield* Ref.set(w.proposals, sampleProposals)
      const l = yield* client.ListProposals()
      expect(l).toEqual({ proposals: sampleProposals, count: 3 })
      expect((yield* request(w, "GET", "/api/v1/proposals")).body).toEqual(Schema.encodeSync(ProposalList)(l))

      const anonymous = yield* makeClient.pipe(Effect.provide(layerProtocol({ url: w.base })))
      const refused = yield* Effect.flip(anonymous.ListProposals())
      expect(refused._tag).toBe("Unauthorized")
    }))

  it.scopedLive("GetStatus carries the status's `proposals` (the open ones, as the orchestrator lists them)", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      const client = yield* makeClient.pipe(Effect.provide(layerProtocol({ url: w.base, token: w.token })))
      const st = { ...idleStatus, proposals: openProposals(sampleProposals) }
      yield* Ref.set(w.status, st)
      const s = yield* client.GetStatus()
      expect(s).toEqual(served(w, st))
      expect(s.proposals.map((p) => p.state)).toEqual(["pending", "active"])
      const rest = yield* request(w, "GET", "/api/v1/upgrades/status")
      expect((rest.body as { proposals: unknown }).proposals).toEqual(openProposals(sampleProposals))
    }))
})

import { HttpRequestError, RpcError, RpcRequestError, TimeoutError } from "viem"
import type { NodeUnreachable } from "../domain/Errors.js"

/*
 * What the node's RPC reads report besides heights, for the metrics
 * (`wemixvisor_rpc_errors_total{kind}`, `wemixvisor_node_up`, the upgrade
 * downtime). A failed read is classified into a small, fixed set of kinds,
 * so the metric's label never takes an unbounded value.
 */

export const RPC_ERROR_KINDS = ["connection", "timeout", "http", "rpc", "invalid", "subscription"] as const
/**
 * - connection: no answer at all (refused, reset, DNS);
 * - timeout: no answer within RPC_TIMEOUT;
 * - http: an HTTP status other than 2xx, or a body that is not JSON;
 * - rpc: a JSON-RPC error answer;
 * - invalid: an answer that is not a usable height;
 * - subscription: the WebSocket `newHeads` subscription could not be opened or was lost.
 */
export type RpcErrorKind = (typeof RPC_ERROR_KINDS)[number]

export type RpcRead =
  | { readonly _tag: "Failed"; readonly kind: RpcErrorKind }
  /** The first read that answers after one or more failed reads. */
  | { readonly _tag: "Answered" }

/** The kind of a failed HTTP read: the first viem error class found along the cause chain. */
export const errorKind = (error: NodeUnreachable): RpcErrorKind => {
  let cause: unknown = error.cause
  for (let depth = 0; depth < 8 && cause instanceof Error; depth++) {
    if (cause instanceof TimeoutError) return "timeout"
    if (cause instanceof HttpRequestError) return cause.status === undefined ? "connection" : "http"
    if (cause instanceof RpcRequestError || cause instanceof RpcError) return "rpc"
    cause = cause.cause
  }
  return "invalid"
}

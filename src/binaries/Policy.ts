import * as Either from "effect/Either"
import { parseChecksum, type ParsedChecksum } from "./Checksum.js"
import { DownloadRefused } from "./Errors.js"

/*
 * Whether wemixvisor may download a binary (DAEMON_ALLOW_DOWNLOAD_BINARIES,
 * DAEMON_UNSAFE_SKIP_CHECKSUM). Apart from Download.ts so the schedule-time
 * checks of every door load no HTTP client or archive library.
 */

export interface DownloadPolicy {
  readonly allowDownloadBinaries: boolean
  readonly unsafeSkipChecksum: boolean
}

/**
 * The policy's verdict on a download before anything is fetched: refused
 * when downloads are disabled, or when there is no checksum and skipping it
 * was not allowed. Returns the parsed checksum (none only when allowed).
 */
export const checkDownloadAllowed = (
  policy: DownloadPolicy,
  url: string,
  checksum: string | undefined
): Either.Either<ParsedChecksum | undefined, DownloadRefused> => {
  if (!policy.allowDownloadBinaries) {
    return Either.left(
      new DownloadRefused({ url, problem: "downloads are disabled; set DAEMON_ALLOW_DOWNLOAD_BINARIES=true" })
    )
  }
  let protocol: string
  try {
    protocol = new URL(url).protocol
  } catch {
    return Either.left(new DownloadRefused({ url, problem: "not a URL" }))
  }
  if (protocol !== "http:" && protocol !== "https:" && protocol !== "file:") {
    return Either.left(
      new DownloadRefused({ url, problem: `${protocol} URLs are not supported (use http, https or file)` })
    )
  }
  if (checksum === undefined || checksum === "") {
    return policy.unsafeSkipChecksum
      ? Either.right(undefined)
      : Either.left(
        new DownloadRefused({
          url,
          problem:
            "no checksum given (use --checksum sha256:<hex>); to download without one set DAEMON_UNSAFE_SKIP_CHECKSUM=true"
        })
      )
  }
  return Either.mapLeft(
    parseChecksum(checksum),
    (problem) => new DownloadRefused({ url, problem: `bad checksum: ${problem}` })
  )
}

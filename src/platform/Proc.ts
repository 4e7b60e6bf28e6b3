import * as fs from "node:fs"

/*
 * Process identity from /proc. A pid alone is not an identity (pids are
 * reused) and neither is the command line (wrappers `exec` the real node), so
 * a process is named by pid plus its start time: /proc/<pid>/stat field 22,
 * in clock ticks since boot.
 */

/** Start time of a live process, or undefined when it does not exist. */
export const processStartTime = (pid: number): string | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // comm (field 2) may hold spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // rest[0] is field 3 (state); field 22 is rest[19].
    const state = rest[0]
    if (state === "Z" || state === "X") return undefined
    return rest[19]
  } catch {
    return undefined
  }
}

/** True when a process with this pid exists (and is not a zombie). */
export const isAlive = (pid: number): boolean => processStartTime(pid) !== undefined

/** Pids of the live members of a process group. */
export const groupMembers = (pgid: number): Array<number> => {
  const out: Array<number> = []
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      // rest[2] is field 5 (pgrp).
      if (rest[0] !== "Z" && Number(rest[2]) === pgid) out.push(Number(entry))
    } catch {
      // raced with an exit
    }
  }
  return out
}

/**
 * Process groups of the live processes whose environment (as given at exec,
 * /proc/<pid>/environ) holds `entry` ("NAME=value"). Processes of other users
 * cannot be read and are skipped.
 */
export const groupsWithEnv = (entry: string): Array<number> => {
  const groups = new Set<number>()
  for (const pid of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue
    try {
      if (!fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(entry)) continue
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      if (rest[0] !== "Z") groups.add(Number(rest[2]))
    } catch {
      // raced with an exit, or not ours to read
    }
  }
  return [...groups]
}

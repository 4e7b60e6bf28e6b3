/*
 * The errno of what Node's fs, net and process calls throw ("ENOENT",
 * "EEXIST", "ESRCH", …), read in one place instead of cast at every catch.
 */

/** The errno code of a thrown value; undefined when it carries none. */
export const errnoOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : undefined

/** Whether a thrown value carries this errno code. */
export const isErrno = (e: unknown, code: string): boolean => errnoOf(e) === code

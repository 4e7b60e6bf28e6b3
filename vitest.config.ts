import { defineConfig } from "vitest/config"

// Two cores: at most two test files at once, and the suites that spawn real
// processes or a real node get generous timeouts (they ignore TestClock).
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // What a test prints (expected ERROR/WARN lines, child logs) is shown only when it fails.
    setupFiles: ["test/support/quiet.setup.ts"],
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ["default"],
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      // the CLI entry (argv, the runtime, process exit) runs only inside the e2e child processes; test/cli runs the rest of the CLI in process
      exclude: ["src/bin.ts"],
      reporter: ["text-summary", "json-summary"]
    }
  }
})

// Part of tap's `after` hook (imported by log-scan-after.ts): prints, loudly, the deployment
// tests this run skipped and the tools they lacked. Never changes the exit status.
import { rmSync } from 'node:fs'
import { formatSkips, readSkips, SKIP_DIR } from './skip-report.js'

const report = formatSkips(readSkips())
if (report !== '') process.stdout.write(report)
rmSync(SKIP_DIR, { recursive: true, force: true })

// tap `before`: start the suite with no recorded logs and no recorded skips.
import { resetLogs } from './log-scan.js'
import { resetSkips } from './skip-report.js'

resetLogs()
resetSkips()

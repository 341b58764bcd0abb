// tap `before`: start the suite with no recorded logs.
import { resetLogs } from './log-scan.js'

resetLogs()

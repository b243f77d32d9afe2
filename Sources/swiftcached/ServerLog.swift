// What the server logs goes through swift-log (DESIGN.md §8), to a handler that writes memcached's
// plain lines to stderr: the message alone (memcached prints no timestamp or level), a warning
// prefixed "warning: ". The threshold follows -v: notices and above by default, info with -v,
// debug with -vv. Command-line refusals are not logs: Options prints them as memcached does.
import CGetopt
import Logging

struct StderrLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        cgetopt_stderr((event.level == .warning ? "warning: \(event.message)" : "\(event.message)") + "\n")
    }
}

/// Routes every `Logger` of the process to stderr at the level -v asks for. Called once, before
/// any logger is made.
func bootstrapLogging(verbose: Int) {
    let level: Logger.Level = verbose >= 2 ? .debug : verbose == 1 ? .info : .notice
    LoggingSystem.bootstrap { _ in StderrLogHandler(logLevel: level) }
}

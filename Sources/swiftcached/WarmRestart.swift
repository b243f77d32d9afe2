// -e wiring: the metadata read at start-up (memcached's restart_check), the memory file opened,
// the items restored, and the save after a SIGUSR1 stop. What is saved and how it is checked is
// the engine's (CacheEngine+WarmRestart.swift, WarmRestartMeta.swift). Lines go to stderr in
// memcached's "[restart] ..." words; a cache that cannot be restored starts empty and says why.
import CacheEngine
import Logging
import MemcacheProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The memory file's descriptor (nil without -e; open, and locked, for the life of the process)
/// and the metadata to restore (nil: start empty).
struct WarmStart {
    var fd: Int32?
    var meta: WarmRestartMeta?
}

func openMemoryFile(_ options: Options, log: Logger) -> WarmStart {
    guard let path = options.memoryFile else { return WarmStart() }
    // Locked first: the metadata and the file belong to no other running server.
    let fd: Int32
    switch MemoryFile.open(path) {
    case .failure(let why):
        log.critical("\(why)")
        exit(71)  // EX_OSERR, as a failed mmap stops memcached
    case .success(let f):
        fd = f
    }
    var meta: WarmRestartMeta?
    switch WarmRestartMeta.load(memoryFile: path) {
    case .missing:
        log.notice("[restart] no metadata save file, starting with a clean cache")
    case .refused(let why):
        log.notice("[restart] \(why), starting with a clean cache")
    case .meta(let m):
        if let why = m.mismatch(with: options.engine, serverVersion: ProtocolSettings.swiftcachedVersion) {
            log.notice("[restart] \(why), starting with a clean cache")
        } else {
            meta = m
        }
    }
    let bytes = MemoryFile.bytes(for: options.engine)
    switch MemoryFile.prepare(fd, bytes: bytes, keep: meta != nil) {
    case .failure(let why):
        log.critical("\(why)")
        exit(71)
    case .success(let file):
        if meta != nil && !file.kept {
            log.notice("[restart] memory file is \(file.found) bytes, the saved cache needs \(bytes), starting with a clean cache")
            meta = nil
        }
        return WarmStart(fd: fd, meta: meta)
    }
}

func restoreWarmCache(_ engine: CacheEngine, _ meta: WarmRestartMeta, log: Logger) {
    let report = engine.restore(meta)
    if let why = report.refusal {
        log.notice("[restart] \(why), starting with a clean cache")
        return
    }
    var line = "[restart] recovered \(report.restored) items in \(report.microseconds / 1000) ms"
    if report.expired > 0 { line += ", \(report.expired) expired or flushed during the downtime" }
    if report.damaged > 0 { line += ", \(report.damaged) damaged items dropped" }
    log.notice("\(line)")
}

func saveWarmCache(_ engine: CacheEngine, memoryFile path: String, log: Logger) {
    switch engine.saveWarmRestart(memoryFile: path, serverVersion: ProtocolSettings.swiftcachedVersion) {
    case .failure(let why):
        log.error("[restart] failed to save metadata: \(why)")
    case .success(let n):
        log.notice("[restart] saved \(n.saved) items to \(WarmRestartMeta.metaPath(memoryFile: path))")
        if n.droppedNonStrings > 0 {
            log.notice("[restart] dropped \(n.droppedNonStrings) Redis keys that are not strings (lists are not saved)")
        }
    }
}

// swiftcached: parses memcached's flags, builds the engine and the cache listener, runs until
// SIGINT/SIGTERM, SIGUSR1 (graceful: with -e the cache is saved for a warm restart) or `shutdown`.
import Broker
import BrokerProtocol
import CacheEngine
import CGetopt
import CLibevent
import Logging
import MemcacheProtocol
import Platform
import RESP
import Server
import SlabAllocator
#if canImport(Glibc)
import Glibc
#endif

signal(SIGPIPE, SIG_IGN)
// SIGUSR1 is the graceful stop once the server runs (its event replaces this); before that, during
// start-up and a restore, it must not kill the process (its default action).
signal(SIGUSR1, SIG_IGN)
// A parent may have blocked these (some process launchers do); the stop signals must reach us.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
sigaddset(&stopSignals, SIGUSR1)
pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)

// What the process inherited, before it opens anything: memcached's descriptors, and so its -c
// admission, count from these (Admission.swift).
let inheritedDescriptors = openDescriptors()
let options: Options
switch parseOptions(CommandLine.arguments) {
case .exit(let code):
    exit(code)
case .run(let o):
    options = o
}
bootstrapLogging(verbose: options.verbose)
let log = Logger(label: "swiftcached")

// -Z: the certificates are loaded before privileges are dropped (a key readable by root only
// still loads), and a missing or bad one refuses the start with memcached's words and status.
var tlsContext: TLSContext?
if options.server.tls.enabled {
    do {
        tlsContext = try TLSContext(settings: options.server.tls)
    } catch {
        printError(error.description)
        exit(64)  // EX_USAGE, as memcached
    }
}

// As memcached: the descriptor limit is raised to fit -c while the process may still raise it,
// then root becomes the -u user (or is refused) before anything is bound or opened, so that the
// files it creates (UNIX socket, journals, pid and port files) belong to that user.
let descriptorsWanted = descriptorsNeeded(options)
if let message = raiseDescriptorLimit(to: descriptorsWanted, connections: options.server.maxConnections) {
    log.critical("\(message)")
    exit(71)  // EX_OSERR
}
if let status = dropPrivileges(user: options.user, log: log) {
    exit(status)
}

if options.engine.lockMemory {
    // MCL_CURRENT only: the slab reservation comes later and is locked page by page as it is used
    // (MCL_FUTURE would commit the whole reservation, which is larger than -m).
    if mlockall(MCL_CURRENT) != 0 {
        log.warning("-k invalid, mlockall() failed: \(String(cString: strerror(errno)))")
    }
}

// -e: the saved metadata is read (and removed, as memcached does) before the clock exists, because
// a restored cache continues the clock it was saved with.
let warm = openMemoryFile(options, log: log)
let clock = warm.meta.map { ProcessClock(processStarted: $0.processStarted, current: $0.resumeTime(unixNow: Int(time(nil)))) }
    ?? ProcessClock()
let watchLog = WatchLog(bufferBytes: options.extended.watcherLogbufSize)
guard let engine = CacheEngine(settings: options.engine, clock: clock, watch: watchLog, memoryFile: warm.fd) else {
    log.critical("failed to reserve \(options.memoryLimitMB) MB of address space for slabs")
    exit(71)
}
if let meta = warm.meta { restoreWarmCache(engine, meta, log: log) }
for line in engine.slabClassTableLines { log.debug("\(line)") }  // -vv, as memcached

let serverBox = ServerBox()
let serviceBox = ServiceBox()
var sources = StatsSources()
let startedAt = clock.unixNow
let tuning = engine.tuning
sources.settings = {
    settingsStats(options, tuning: tuning, automove: engine.automoveLevel,
                  detailEnabled: serviceBox.service?.detailEnabled ?? false, oldest: engine.flushMark,
                  crawler: engine.crawler)
}
// memcached's reserved_fds: five per worker (its event base's three and its notify pipe's two).
// The descriptors really kept above -c here (descriptorsWanted) are another count.
let reservedDescriptors = 5 * options.server.threads
sources.general = {
    guard let server = serverBox.server else { return [] }
    let facts = processFacts(clock: clock, options: options, pid: getpid(), startedAt: startedAt, reserved: reservedDescriptors)
    return generalServerStats(server: server, facts: facts)
}
sources.memcachedStats = { proto in
    guard let server = serverBox.server else { return MemcacheService.generalStatTable.lines(proto) }
    let facts = processFacts(clock: clock, options: options, pid: getpid(), startedAt: startedAt, reserved: reservedDescriptors)
    return ProcessFacts.memcachedStatTable.lines(StatsSnapshot(process: facts, server: server.stats, proto: proto))
}
sources.resetServer = { serverBox.server?.stats.reset() }  // with the engine's and watch's (MemcacheService)
sources.connections = {
    guard let server = serverBox.server else { return .empty }
    return ConnectionsSnapshot(listeners: serverBox.listeners, listenersBound: server.boundAt, datagramSockets: server.datagramSocketFacts,
                               connections: server.stats.connectionFacts(), now: clock.current)
}
// With the Redis port on, one gate holds both ports' commands out of an EXEC.
let commandGate = options.redisPort != 0 ? CommandGate(workers: options.server.threads) : nil
let service = MemcacheService(engine: engine, settings: options.proto, workers: options.server.threads,
                              sources: sources, watch: watchLog, onShutdown: { serverBox.server?.stop() },
                              refreshCertificates: { [tlsContext] in tlsContext.map { $0.refresh() } ?? MemcacheService.tlsNotEnabled },
                              gate: commandGate)
serviceBox.service = service
var redisSettings = options.redis
redisSettings.requestsPerEvent = options.proto.requestsPerEvent
var broker: Broker?
var brokerService: BrokerService?
if options.brokerPort != 0 {
    do {
        broker = try Broker(engine: engine, settings: options.broker)
    } catch {
        log.critical("\(error)")
        exit(71)
    }
    for note in broker!.recoveryNotes { log.notice("\(note)") }
}
// Redis streams are logs of the broker (its memory, and database 0's streams are its topics too)
// when it runs; otherwise their own share of --broker-memory's size.
let streamClock = engine.clock
let streamStore = broker.map { StreamStore(broker: $0, memoryLimit: options.broker.memoryLimit, clockMs: { streamClock.milliseconds }) }
    ?? StreamStore(memoryLimit: options.broker.memoryLimit, engine: engine, clockMs: { streamClock.milliseconds })
let redisService = options.redisPort != 0
    ? RESPService(engine: engine, settings: redisSettings, workers: options.server.threads, host: {
        redisHostFacts(server: serverBox.server, options: options, startedAt: startedAt)
    }, log: { log.warning("\($0)") }, gate: commandGate, streams: streamStore)
    : nil
if options.brokerPort != 0 {
    // A message published to an exchange also reaches the Redis port's subscribers of a channel
    // of the exchange's name.
    var toSubscribers: (@Sendable (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void)? = nil
    if let redis = redisService {
        toSubscribers = { channel, message in redis.publish(channel: channel, message: message) }
    }
    brokerService = BrokerService(broker: broker!, settings: options.proto, sources: sources, exchangePublished: toSubscribers)
}
let server = Server(settings: options.server, listeners: listenerConfigs(options, cache: service, broker: brokerService, redis: redisService),
                    observer: ConnectionEventLog(watch: watchLog), clock: clock, tls: tlsContext)
serverBox.server = server
do {
    try server.bind()
} catch {
    log.critical("\(error)")
    exit(71)
}
// -c as memcached counts it: its own descriptors (workers, listeners) come out of -c, and a -c too
// small for them refuses the start with its words.
let cacheListeners = options.server.unixSocket != nil ? 1 : (options.udpPort != 0 ? 1 : 0) + (options.server.port != 0 ? 1 : 0)
let memcachedListening = (0..<cacheListeners).reduce(0) { n, index in
    n + server.socketCount(listener: index) * (server.configurations[index].transport == .udp ? options.server.threads : 1)
}
let descriptors = MemcachedDescriptors(inherited: inheritedDescriptors, limit: options.server.maxConnections,
                                       threads: options.server.threads, listening: memcachedListening)
if let refusal = descriptors.startRefusal {
    cgetopt_stderr(refusal.text)
    exit(refusal.status)
}
server.limitAdmission(refuseAt: descriptors.refuseAt, pauseAt: descriptors.pauseAt)
serverBox.listeners = server.listeningSockets
writePortFile(server.boundPorts)
if options.daemonize {
    // No thread has started yet: fork-safe. Output stays open with -v, as memcached.
    if daemon(0, options.verbose > 0 ? 1 : 0) != 0 {
        log.critical("failed to daemon() in order to daemonize")
        exit(71)
    }
}
if let pidFile = options.pidFile {
    writeFileAtomically(pidFile, "\(getpid())\n")
}
let background = EngineThreads(engine: engine)
background.start()
broker?.start()
server.run()
if server.stoppedGracefully { log.notice("Gracefully stopping") }
// Workers are gone: the flusher writes (and fsyncs) what is buffered, then stops.
broker?.stop()
background.stop()
// Nothing touches item memory any more: with -e, SIGUSR1 saves the cache for a warm restart.
if server.stoppedGracefully, let path = options.memoryFile {
    saveWarmCache(engine, memoryFile: path, log: log)
}
if let pidFile = options.pidFile { unlink(pidFile) }
if let path = options.server.unixSocket { unlink(path) }
log.info("Exiting normally")
exit(0)

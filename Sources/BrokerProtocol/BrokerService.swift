// The broker port's handler factory: every connection of the broker listener speaks the
// memcached text protocol with queue semantics (BrokerConnection.swift) against one shared Broker.
import Broker
import CacheEngine
import MemcacheProtocol
import Platform

public final class BrokerService: ConnectionHandlerFactory, @unchecked Sendable {
    // Safe to share: all `let`; the broker and engine are thread-safe.
    public let broker: Broker
    let settings: ProtocolSettings
    let sources: StatsSources
    /// Told of every message published to an existing exchange (exchange name, message bytes):
    /// the executable passes them to the Redis port's subscribers of a channel of that name.
    let exchangePublished: (@Sendable (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void)?

    public init(broker: Broker, settings: ProtocolSettings, sources: StatsSources = StatsSources(),
                exchangePublished: (@Sendable (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void)? = nil) {
        self.broker = broker
        self.settings = settings
        self.sources = sources
        self.exchangePublished = exchangePublished
    }

    public func makeHandler(workerIndex: Int, fd: Int32, output: OutputBuffer, waker: ConnectionWaker) -> ConnectionHandler {
        let engine = broker.engine
        output.releaseReference = { raw in engine.release(Item(raw)) }
        return BrokerConnection(service: self, waker: waker)
    }
}
